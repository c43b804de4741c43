"""Test-only: shifts this process's wall clock by the seconds written in $POLLER_TEST_CLOCK_FILE.

Mocks the wall clock only (time.time and datetime.now/utcnow), as an NTP step or a
suspend/resume would move it; the monotonic clock is left alone. libfaketime would be the
real thing, but with a changing offset it makes Python's time.sleep fail with EINVAL.
"""

from __future__ import annotations

import datetime as _datetime
import os
import sqlite3  # noqa: F401 - registers its datetime adapters for the real type before the patch below
import time as _time

_FILE = os.environ.get("POLLER_TEST_CLOCK_FILE")
_real_time = _time.time
_RealDatetime = _datetime.datetime


def _offset() -> float:
    try:
        with open(_FILE or "", encoding="ascii") as handle:
            return float(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def _shifted_time() -> float:
    return _real_time() + _offset()


class _Meta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, _RealDatetime)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _RealDatetime)


class _ShiftedDatetime(_RealDatetime, metaclass=_Meta):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return _RealDatetime.fromtimestamp(_shifted_time(), tz)

    @classmethod
    def utcnow(cls):  # type: ignore[no-untyped-def, override]
        return _RealDatetime.fromtimestamp(_shifted_time(), _datetime.UTC).replace(tzinfo=None)


if _FILE:
    _time.time = _shifted_time
    _datetime.datetime = _ShiftedDatetime  # type: ignore[misc]
