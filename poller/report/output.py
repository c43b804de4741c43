"""Writing a rendered report to a file atomically: a temporary file beside the target,
flushed and fsynced, then renamed over it, so a reader (or a web server publishing the
report) never sees half a report and a failed write leaves the old one in place.

Never renders; raises ConfigError (exit 2) with one line when the path cannot be written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from poller.errors import ConfigError


def write_atomic(path: str | os.PathLike[str], text: str | Iterable[str]) -> Path:
    """Write ``text`` (UTF-8; a string or its pieces) to ``path`` by temp file + fsync + rename."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or type(exc).__name__}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(target, temp)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror or type(exc).__name__}") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _keep_mode(target: Path, temp: str) -> None:
    """Give the new file the old regular file's permissions; a new file (or one replacing a
    symlink, which is never followed) gets 0640 less the umask: reports hold inventory data (S07)."""
    try:
        info = target.lstat()
        mode = info.st_mode & 0o777 if stat.S_ISREG(info.st_mode) else None
    except FileNotFoundError:
        mode = None
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o640 & ~umask
    os.chmod(temp, mode)
