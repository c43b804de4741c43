"""Logging, configured once: structlog to stderr, console on a terminal, JSON otherwise.

Owns the redaction of secrets: every event passes a processor that masks values of
keys that name a secret and secrets embedded in URLs. Never logs on import.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|signature|api_?key|apikey|credential|authorization", re.I)
_SECRET_IN_TEXT = re.compile(
    r"(?i)((?:password|passwd|secret|token|signature|apikey|api_key|secretkey|secret_key|x-auth-token)[\"']?\s*[=:]\s*[\"']?)"
    r"([^\s&\"',;}]+)"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
MASK = "***"


def redact_text(text: str) -> str:
    """``text`` with anything that looks like an inline secret masked."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    return _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets masked: by key name, and inside text."""
    if key and _SECRET_KEY.search(key):
        return MASK if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in ("event", "level", "timestamp", "logger"):
            continue
        event_dict[key] = redact(event_dict[key], key)
    if isinstance(event_dict.get("event"), str):
        event_dict["event"] = redact_text(event_dict["event"])
    return event_dict


def _exception_processor(verbose: bool) -> Any:
    def process(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        exc = event_dict.pop("exc_info", None)
        if exc and verbose:
            event_dict["exc_info"] = exc
        return event_dict

    return process


def configure(
    log_format: str | None = None, verbose: bool = False, stream: TextIO | None = None, quiet: bool = False
) -> None:
    """Set up structlog and the stdlib root logger for the process (``quiet``: warnings and up)."""
    stream = stream or sys.stderr
    if log_format is None:
        log_format = "console" if stream.isatty() else "json"
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        format_exc: list[Any] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        format_exc = []
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _exception_processor(verbose),
            _redact_processor,
            *format_exc,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (keystoneauth, urllib3, kombu, apscheduler) log through stdlib: keep them quiet
    # unless -v, and never let them print request URLs at debug level without -v.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=stream, format="%(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(_RedactFilter())
    for noisy in ("urllib3", "keystoneauth", "stevedore", "openstack", "apscheduler", "amqp", "kombu", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


class _RedactFilter(logging.Filter):
    """Masks secrets in records from third-party libraries."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = redact_text(record.getMessage())
            record.args = None
        except Exception:  # a broken log call must not break the poller
            record.msg, record.args = "unprintable log record", None
        return True
