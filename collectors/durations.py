"""Durations as people write them: the one parser for every duration in poller.yaml,
in a collector's options and on the command line (``30``, ``30s``, ``5m``, ``1h30m``, ``1d``, ``1w``).

Pure: text in, seconds out. Never raises; callers turn ``None`` into an error naming their field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

HINT = "30, 30s, 5m, 1h30m, 1d or 1w"
_NUM = r"(\d+(?:\.\d+)?)"
_UNITS = (("w", 604800.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
_TEXT = re.compile("^" + "".join(rf"(?:{_NUM}{unit})?" for unit, _ in _UNITS) + "$")
_BARE = re.compile(rf"^{_NUM}$")


def parse_duration(value: Any) -> float | None:
    """Seconds in ``value``: a number (seconds) or text such as ``90``, ``90s``, ``5m``, ``1h30m``,
    ``1d``, ``2w``, ``1h 30m`` (units largest first, each at most once); None if it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = "".join(value.split()).lower()
    if not text:
        return None
    bare = _BARE.match(text)
    if bare:
        return float(bare.group(1))
    match = _TEXT.match(text)
    if not match or not any(match.groups()):
        return None
    return sum(float(g) * size for g, (_unit, size) in zip(match.groups(), _UNITS, strict=True) if g)


def format_duration(seconds: float) -> str:
    """``seconds`` in the largest units that divide it: ``1h30m``, ``45s``, ``1w``."""
    if seconds <= 0 or seconds != int(seconds):
        return f"{seconds:g}s"
    rest, parts = int(seconds), []
    for unit, size in _UNITS:
        count, rest = divmod(rest, int(size))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def duration_option(source: str, options: Mapping[str, Any], name: str, default: float) -> float:
    """Seconds in ``options[name]`` (``default`` when absent); OptionError naming the field and value."""
    from collectors.errors import OptionError

    value = options.get(name)
    if value is None:
        return default
    seconds = parse_duration(value)
    if seconds is None:
        shown = repr(value) if isinstance(value, str | int | float) else "this value"
        raise OptionError(source, name, f"must be a duration like {HINT}, not {shown}")
    return seconds
