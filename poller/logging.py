"""Logging, configured once: every line on stderr goes through structlog, console on a
terminal, JSON otherwise; the standard library's loggers (keystoneauth, urllib3, kombu, the
project's own) are rendered by the same processors through structlog's ProcessorFormatter.

Owns the redaction of secrets: values are masked where they are values (fields whose name
says secret, URL userinfo, query and form parameters, credential headers, quoted JSON/repr
members), never by rewriting the words of a message. Never logs on import.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
# A field (event key, config key, header or parameter name) whose value is a secret.
_SECRET_NAME = r"[\w.-]*(?:pass(?:wd|word)?|secret|token|signature|api_?key|credential|authorization|cookie)[\w.-]*"
_SECRET_KEY = re.compile(rf"^{_SECRET_NAME}$", re.I)
# name=value: query strings, form bodies, key=value log lines (``apiKey=...&signature=...``).
_PARAM = re.compile(rf"(?i)(?<![\w.-])({_SECRET_NAME})(=)([^\s&\"',;}}<>]+)")
# Credential headers as they appear in HTTP debug output (``X-Auth-Token: gAAAA...``).
_HEADER = re.compile(
    r"(?i)\b(x-auth-token|x-subject-token|x-service-token|authorization|proxy-authorization|cookie|set-cookie"
    r"|x-poller-signature)(\"?\s*:\s*\"?)([^\"'\r\n]+)"
)
# Quoted members of JSON documents and Python reprs (``"password": "..."``, ``'secret': '...'``).
_QUOTED = re.compile(rf"(?i)([\"'])({_SECRET_NAME})\1(\s*:\s*)([\"'])((?:\\.|(?!\4).)*)\4")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
_RESERVED = ("event", "level", "timestamp", "logger", "logger_name")

_json_mode = False
_handler: logging.Handler | None = None


def redact_text(text: str) -> str:
    """``text`` with secret values masked (URL passwords, secret parameters, credential headers,
    quoted secret members); the words of the message itself are left alone."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def is_secret_name(key: str) -> bool:
    """Whether a field called ``key`` (config key, event key, header, parameter) holds a secret."""
    return bool(_SECRET_KEY.search(key))


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets masked: the whole value when ``key`` names a secret, else inside text."""
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
        if key in _RESERVED or key.startswith("_"):
            continue
        event_dict[key] = redact(event_dict[key], key)
    if isinstance(event_dict.get("event"), str):
        event_dict["event"] = redact_text(event_dict["event"])
    return event_dict


# S09/B07: characters that would break a log line or make it read differently than it is:
# C0 and C1 controls (CR/LF, ESC for ANSI sequences) and the Unicode bidi overrides/isolates.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_BIDI = {c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}
_CONSOLE_ESCAPES = str.maketrans({**_CONTROLS, **_BIDI})
_JSON_ESCAPES = str.maketrans({**{c: v for c, v in _CONTROLS.items() if c >= 0x80}, **_BIDI})


def escape_controls(text: str, *, json_lines: bool = False) -> str:
    """``text`` with control and bidi characters written as visible escapes (JSON already escapes C0)."""
    return text.translate(_JSON_ESCAPES if json_lines else _CONSOLE_ESCAPES)


def _escape_processor(json_lines: bool) -> Any:
    """JSON lines: every string value (JSON escapes C0 itself, not C1 or bidi). Console: the event
    text only, which is printed as it is (ConsoleRenderer already writes other values with repr)."""
    def process(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if isinstance(value, str) and (json_lines or key == "event"):
                event_dict[key] = escape_controls(value, json_lines=json_lines)
        return event_dict

    return process


def _exception_processor(verbose: bool) -> Any:
    def process(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        exc = event_dict.pop("exc_info", None)
        if exc and verbose:
            event_dict["exc_info"] = exc
        return event_dict

    return process


def _foreign_logger(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A stdlib record: name its logger (keystoneauth, kombu, collectors.cloudstack.client ...)."""
    record = event_dict.get("_record")
    if record is not None:
        event_dict["logger"] = record.name
    return event_dict


def configure(
    log_format: str | None = None, verbose: bool = False, stream: TextIO | None = None, quiet: bool = False
) -> None:
    """Set up structlog and the stdlib root logger for the process (``quiet``: warnings and up).

    structlog's own events and stdlib records end in one handler on the root logger,
    rendered by one ProcessorFormatter, so JSON mode writes nothing but JSON lines.
    """
    global _json_mode, _handler
    stream = stream or sys.stderr
    if log_format is None:
        log_format = "console" if stream.isatty() else "json"
    _json_mode = log_format == "json"
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    renderer: Any
    if _json_mode:
        renderer = structlog.processors.JSONRenderer()
        format_exc: list[Any] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        format_exc = []
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _exception_processor(verbose),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _foreign_logger, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact_processor,
            *format_exc,
            _escape_processor(_json_mode),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier configure(), and basicConfig's stream handler
        if old is _handler or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    _handler = handler
    root.setLevel(level)
    # Libraries (keystoneauth, urllib3, kombu, apscheduler) stay at warning unless -v, and
    # never print request URLs at debug level without -v.
    for noisy in ("urllib3", "keystoneauth", "stevedore", "openstack", "apscheduler", "amqp", "kombu", "alembic",
                  "requests", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def json_mode() -> bool:
    """True when stderr carries JSON lines (then a command's own stderr lines must be JSON too)."""
    return _json_mode


def stderr_line(event: str, text: str, *, level: str = "info", **fields: Any) -> None:
    """A command's own line on stderr: ``text`` on a console, a JSON log event in JSON mode."""
    if not _json_mode or _handler is None:
        print(escape_controls(redact_text(text)), file=sys.stderr, flush=True)
        return
    # Written past the level filter: a one-shot command's summary is shown even when quiet.
    record = logging.LogRecord("poller.cli", logging.getLevelName(level.upper()), __file__, 0, event, None, None)
    for name, value in {"text": text, **fields}.items():
        setattr(record, name, value)
    _handler.handle(record)
