"""Validation of sink options shared by the sinks: one message shape, URLs, timeouts.

Never echoes an option's value (URLs and headers may carry passwords or tokens).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from poller.config import parse_duration
from poller.errors import SinkConfigError


def problem(name: str, field: str, text: str) -> SinkConfigError:
    """The error for a bad ``notify.sinks.<name>.<field>``."""
    return SinkConfigError(f"notify.sinks.{name}.{field}: {text}")


def url_option(name: str, value: Any, schemes: Sequence[str]) -> str:
    """A required URL with one of ``schemes`` and a host."""
    if value is None:
        raise problem(name, "url", "is required")
    if not isinstance(value, str):
        raise problem(name, "url", "must be a string")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise problem(name, "url", "is not a valid URL") from None
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise problem(name, "url", f"must be an {wanted} URL with a host")
    return value


def timeout_option(name: str, value: Any) -> float:
    """A positive duration in seconds (10, "10s", "1m")."""
    seconds = parse_duration(value)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise problem(name, "timeout", "must be a positive duration like 10, 10s or 1m")
    return seconds
