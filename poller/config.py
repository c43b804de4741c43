"""The configuration file: loading, ``${ENV}`` and ``*_file`` secret resolution, validation.

Owns the shape of poller.yaml. Every problem found is reported (ConfigProblems holds
them all, each naming the file and the key); it never returns a half-valid config and
never echoes a secret's value. A source's options are interpolated lazily: a missing
``${ENV}`` or secret file there only matters when that source is built to run. A file
holding secrets that group or others may read is warned about (or refused, S05).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import yaml

from collectors.durations import HINT as DURATION_HINT
from collectors.durations import parse_duration
from poller.errors import ConfigError, ConfigProblems
from poller.logging import MASK, is_secret_name, redact_text

log = structlog.get_logger("poller.config")

DEFAULT_PATHS = ("./poller.yaml", "/etc/poller/poller.yaml")
_ENV = re.compile(r"\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# S05: ``<secret>_file: PATH`` gives a secret-bearing option its value from a file.
FILE_SUFFIX = "_file"
MAX_SECRET_FILE = 65536
# Secret-bearing option names beyond those poller.logging recognises by their words.
_EXTRA_SECRETS = frozenset({"redaction_key"})
_NOT_SECRETS = frozenset({"refuse_readable_secrets"})
# A password written into a URL (``amqp://user:pw@host``), once ${ENV} references are taken out.
_URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]*:[^@\s/]+@")


@dataclass(frozen=True)
class BaselineConfig:
    """Where the baseline lives and what it keeps."""

    url: str | None = None
    store_payloads: bool = True
    history_days: float = 30.0
    lock_timeout: float | None = None  # bound on every lock wait (None: 30 s on SQLite, 10 s on PostgreSQL)
    statement_timeout: float | None = None  # bound on every PostgreSQL statement (None: 5 min)


@dataclass(frozen=True)
class DeletionConfig:
    """When absence becomes deletion (see DESIGN.md's change semantics)."""

    min_misses: int = 1
    max_fraction: float = 0.5
    min_count: int = 10
    confirm_max: int = 100  # planned deletions per type and run re-read through the collector's fetch


@dataclass(frozen=True)
class SinkConfig:
    """One notification sink: its name, kind and the kind's own options."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # Set when ``options`` names an unset ${ENV}: raised when the sink is built (build_sink), so
    # commands that build no sink (diff, sources, baseline, history, show) need none of its secrets.
    options_error: str | None = None


@dataclass(frozen=True)
class NotifyConfig:
    """Notification settings: sinks and how a first load is announced."""

    sinks: tuple[SinkConfig, ...] = ()
    initial_load: str = "announce"  # announce | silent
    max_backlog: int | None = None
    retention_days: float | None = None
    # B08: a notification larger than this carries a summary of its entity instead of it.
    max_notification_bytes: int = 1_048_576


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of the long-running service (``poller run``)."""

    workers: int = max(2, min(8, (os.cpu_count() or 2) * 2))
    stop_timeout: float = 30.0
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    misfire_grace: float = 60.0
    lease_ttl: float = 30.0  # a source's lease lapses this long after its holder stopped renewing it
    refuse_readable_secrets: bool = False  # S05: refuse (not only warn about) group/world-readable secret files
    hash_workers: int | None = None  # processes hashing a listing's pages; None: one per usable core


@dataclass(frozen=True)
class FieldPolicy:
    """What of a source's entity attributes is kept at all (S10) and what is masked (B13).

    Each mapping goes from an entity type (``"*"``: every type) to JSON-pointer patterns:
    ``keep`` an allowlist, ``drop`` a denylist, ``redact`` values replaced by a keyed
    HMAC under ``redaction_key``. Applied before hashing, storing and emitting.
    ``empty_equals_missing`` hashes a member that is null, [] or {} as if it were absent (B14).
    """

    keep: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    drop: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    redact: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    redaction_key: str | None = field(default=None, repr=False)
    empty_equals_missing: bool = False

    @staticmethod
    def for_type(section: Mapping[str, tuple[str, ...]], entity_type: str) -> tuple[str, ...]:
        """The patterns of one section that apply to ``entity_type``."""
        return (*section.get("*", ()), *section.get(entity_type, ()))


@dataclass(frozen=True)
class CoordinationConfig:
    """The tooz coordination service several ``poller run`` nodes share (see docs/cluster.md)."""

    backend_url: str
    group: str = "cloud-poller"
    heartbeat: float = 2.0
    member_id: str | None = None  # None: host name and pid
    membership_timeout: float | None = None  # None: 5 heartbeats
    grace: float | None = None  # None: the membership timeout

    @property
    def timeout(self) -> float:
        """Seconds without a heartbeat after which the others drop a member (and its sink locks)."""
        return self.membership_timeout if self.membership_timeout is not None else max(5.0, 5 * self.heartbeat)

    @property
    def grace_s(self) -> float:
        """Seconds a node keeps its last assignment while the backend does not answer."""
        return self.grace if self.grace is not None else self.timeout


@dataclass(frozen=True)
class SourceConfig:
    """One configured instance of a collector (Ralph's "cloud provider")."""

    name: str
    collector: str
    enabled: bool = True
    interval: float | None = None
    cron: str | None = None
    jitter: float = 0.0
    timeout: float | None = None
    run_at_start: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    ignore_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    entity_types: tuple[str, ...] | None = None
    notify: tuple[str, ...] | None = None
    deletion: DeletionConfig | None = None
    fields: FieldPolicy = field(default_factory=FieldPolicy)
    # Set when ``options`` names an unset ${ENV}: the source cannot be built (see build_collector),
    # but commands that do not run it (diff, sources, check-config of a disabled source) work.
    options_error: str | None = None

    def ignore_for(self, entity_type: str) -> tuple[str, ...]:
        """Configured ignore paths for one type (``"*"`` entries apply to every type)."""
        return (*self.ignore_fields.get("*", ()), *self.ignore_fields.get(entity_type, ()))


@dataclass(frozen=True)
class Config:
    """A validated configuration."""

    path: str
    baseline: BaselineConfig = BaselineConfig()
    deletion: DeletionConfig = DeletionConfig()
    notify: NotifyConfig = NotifyConfig()
    service: ServiceConfig = ServiceConfig()
    sources: tuple[SourceConfig, ...] = ()
    events: Mapping[str, Any] = field(default_factory=dict)
    coordination: CoordinationConfig | None = None
    # S05: keys whose secret is written in the file itself, and the secret files read (``*_file``).
    inline_secrets: tuple[str, ...] = field(default=(), compare=False)
    secret_files: tuple[str, ...] = field(default=(), compare=False)

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``; ConfigError if there is none."""
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"{self.path}: no source named {name!r} (configured: {known})")


def find_config(explicit: str | None) -> str:
    """The config file to use: ``--config``, else $POLLER_CONFIG, else the default paths."""
    if explicit:
        return explicit
    env = os.environ.get("POLLER_CONFIG")
    if env:
        return env
    for candidate in DEFAULT_PATHS:
        if Path(candidate).is_file():
            return candidate
    raise ConfigError(
        "no configuration file: pass --config FILE, set POLLER_CONFIG, or create ./poller.yaml "
        "(see etc/poller.yaml for an example)"
    )


def is_secret_option(name: str) -> bool:
    """Whether an option called ``name`` holds a secret (masked by ``config show``, may be ``<name>_file``)."""
    return name in _EXTRA_SECRETS or (name not in _NOT_SECRETS and is_secret_name(name))


def load_config(path: str, environ: Mapping[str, str] | None = None, problems: list[str] | None = None,
                check_modes: bool = True) -> Config:
    """Read, interpolate and validate the YAML file at ``path`` (see parse_config for ``problems``).

    With ``check_modes``, a file holding secrets that group or others may read is warned
    about, or refused (ConfigError, or one more of ``problems``) with service.refuse_readable_secrets.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    config = parse_config(text, path, os.environ if environ is None else environ, problems)
    if check_modes:
        for problem in readable_secrets(config):
            if not config.service.refuse_readable_secrets:
                log.warning("secrets_readable", text=problem)
            elif problems is not None:
                problems.append(problem + " (service.refuse_readable_secrets is set)")
            else:
                raise ConfigError(problem + " (service.refuse_readable_secrets is set)")
    return config


def readable_secrets(config: Config) -> list[str]:
    """One line per file holding secrets that group or others may read (mode & 0o077), naming its
    mode and which secret it holds (a key, never a value)."""
    held: dict[str, str] = {}
    if config.inline_secrets:
        more = f" and {len(config.inline_secrets) - 1} more" if len(config.inline_secrets) > 1 else ""
        held[config.path] = f"{config.inline_secrets[0]}{more} written inline"
    for name in config.secret_files:
        held.setdefault(name, "a secret file")
    lines = []
    for name, what in held.items():
        try:
            mode = os.stat(name).st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            lines.append(f"{name}: mode {mode:04o} lets group or others read it, and it holds secrets "
                         f"({what}): chmod 600 it, or chmod 640 with a group of its own")
    return lines


def parse_config(text: str, path: str, environ: Mapping[str, str], problems: list[str] | None = None) -> Config:
    """Validate configuration text; ``path`` is only used in messages.

    Every problem is found; they raise together as ConfigProblems, unless ``problems`` is
    given: then they are appended to it and a best-effort Config (defaults in place of bad
    values, bad sources and sinks left out) is returned, for ``check-config`` to go on with.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if raw is None:
        raw = {}
    v = _Validator(path, environ)
    top = v.mapping(raw, "")
    v.known(top, "", ("baseline", "deletion", "notify", "service", "sources", "events", "coordination"))
    deletion = _deletion(v, top.get("deletion"), "deletion") or DeletionConfig()
    sources = _sources(v, top.get("sources"))
    notify = _notify(v, top.get("notify"))
    sink_names = {s.name for s in notify.sinks}
    for src in sources:
        for sink in src.notify or ():
            if sink not in sink_names:
                v.report(f"sources.{src.name}.notify", f"no sink named {sink!r}")
    config = Config(
        path=path,
        baseline=_baseline(v, top.get("baseline")),
        deletion=deletion,
        notify=notify,
        service=_service(v, top.get("service")),
        sources=sources,
        events=v.guarded(lambda: v.interpolate(v.mapping(top.get("events") or {}, "events"), "events"), {}),
        coordination=v.guarded(lambda: _coordination(v, top.get("coordination")), None),
        inline_secrets=tuple(dict.fromkeys(v.inline_secrets)),
        secret_files=tuple(dict.fromkeys(v.secret_files)),
    )
    if v.errors and problems is None:
        raise ConfigProblems(v.errors)
    if problems is not None:
        problems.extend(str(e) for e in v.errors)
    return config


def duration_seconds(value: Any, where: str) -> float:
    """Seconds in ``value`` (see collectors.durations); ConfigError naming ``where`` and the value otherwise."""
    seconds = parse_duration(value)
    if seconds is None:
        raise ConfigError(f"{where}: {value!r} is not a duration (use {DURATION_HINT})")
    return seconds


class _Validator:
    """Walks the raw YAML, interpolating strings and collecting named ConfigErrors."""

    def __init__(self, path: str, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.errors: list[ConfigError] = []
        self.inline_secrets: list[str] = []
        self.secret_files: list[str] = []

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def report(self, key: str, problem: str) -> None:
        """Record a problem and go on validating (parse_config raises them all at the end)."""
        self.errors.append(self.fail(key, problem))

    def guarded(self, build: Callable[[], Any], default: Any) -> Any:
        """``build()``, or ``default`` after recording the ConfigError it raised."""
        try:
            return build()
        except ConfigError as exc:
            self.errors.append(exc)
            return default

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.report(key or "top level", "must be a mapping")
            return {}
        return value

    def known(self, value: Mapping[str, Any], key: str, allowed: Sequence[str]) -> None:
        for name in value:
            if name not in allowed:
                where = f"{key}.{name}" if key else str(name)
                self.report(where, f"unknown key (allowed: {', '.join(allowed)})")

    def interpolate(self, value: Any, key: str) -> Any:
        """``value`` with ${ENV} expanded and, in mappings, ``<secret>_file: PATH`` replaced by
        ``<secret>: <the file's content>`` (never itself expanded)."""
        if isinstance(value, str):
            return self._expand(value, key)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            files: dict[str, Any] = {}
            for k, v in value.items():
                name = str(k)
                if name.endswith(FILE_SUFFIX) and is_secret_option(name[:-len(FILE_SUFFIX)]):
                    files[name] = v
                else:
                    out[k] = self.interpolate(v, f"{key}.{k}")
            for name, ref in files.items():
                stem, where = name[:-len(FILE_SUFFIX)], f"{key}.{name}"
                if stem in value:
                    raise self.fail(where, f"set {stem} or {name}, not both")
                out[stem] = self.secret_file(ref, where)
            return out
        if isinstance(value, list):
            return [self.interpolate(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return value

    def secret_file(self, ref: Any, key: str) -> str:
        """The secret held by the file ``ref`` names (its one trailing newline stripped); ConfigError
        naming ``key`` and the file if it cannot be read, is not UTF-8 text, is empty or too large."""
        path = self._expand(ref, key, inline_check=False) if isinstance(ref, str) else None
        if not path:
            raise self.fail(key, "must be the path of a file holding the secret")
        where = Path(path).expanduser()
        if not where.is_absolute():
            where = Path(self.path).resolve().parent / where
        try:
            with open(where, "rb") as handle:
                data = handle.read(MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise self.fail(key, f"cannot read {where} ({exc.strerror or type(exc).__name__})") from None
        if len(data) > MAX_SECRET_FILE:
            raise self.fail(key, f"{where} is larger than {MAX_SECRET_FILE} bytes: not a secret file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(key, f"{where} is not UTF-8 text") from None
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        if not text:
            raise self.fail(key, f"{where} is empty")
        self.secret_files.append(str(where))
        return text

    def _expand(self, text: str, key: str, inline_check: bool = True) -> str:
        if inline_check:
            # A secret-named value without any ${VAR} is written here; one with a reference takes its
            # secret from the environment ("Bearer ${TOKEN}"). A URL's password counts once references are out.
            referenced = any(m.group(2) for m in _ENV.finditer(text))
            literal_secret = not referenced and text.strip() and is_secret_option(key.rsplit(".", 1)[-1])
            if literal_secret or _URL_PASSWORD.search(_ENV.sub("", text)):
                self.inline_secrets.append(key)

        def repl(match: re.Match[str]) -> str:
            if match.group(1):
                return "$"
            name, default = match.group(2), match.group(3)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            # Not "key: problem": the redaction of "password: ..." would mask the whole message.
            raise ConfigError(f"{self.path}: {key} needs the environment variable {name}, which is not set")

        return _ENV.sub(repl, text)

    def get(self, section: Mapping[str, Any], name: str, key: str, check: Callable[[Any], Any], what: str, default: Any) -> Any:
        if name not in section or section[name] is None:
            return default
        try:
            value = self.interpolate(section[name], f"{key}.{name}")
        except ConfigError as exc:
            self.errors.append(exc)
            return default
        result = check(value)
        if result is None:
            self.report(f"{key}.{name}", f"must be {what}")
            return default
        return result

    def boolean(self, section: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
        return self.get(section, name, key, _as_bool, "true or false", default)

    def integer(self, section: Mapping[str, Any], name: str, key: str, default: Any, minimum: int = 0) -> Any:
        return self.get(section, name, key, lambda x: _as_int(x, minimum), f"an integer >= {minimum}", default)

    def duration(self, section: Mapping[str, Any], name: str, key: str, default: Any) -> Any:
        raw = section.get(name)
        shown = repr(raw) if isinstance(raw, str | int | float) else "this value"
        return self.get(section, name, key, parse_duration, f"a duration like {DURATION_HINT}, not {shown}", default)

    def days(self, section: Mapping[str, Any], name: str, key: str, default: Any) -> Any:
        """A number of days, or a duration (``12h``, ``2w``) converted to days."""
        def check(value: Any) -> float | None:
            if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
                value = float(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) if value >= 0 else None
            seconds = parse_duration(value)
            return None if seconds is None else seconds / 86400

        return self.get(section, name, key, check, f"a number of days or a duration like 12h, 30d, 2w, not {section.get(name)!r}", default)

    def text(self, section: Mapping[str, Any], name: str, key: str, default: Any) -> Any:
        return self.get(section, name, key, lambda x: x if isinstance(x, str) and x else None, "a non-empty string", default)

    def strings(self, section: Mapping[str, Any], name: str, key: str) -> tuple[str, ...] | None:
        def check(value: Any) -> tuple[str, ...] | None:
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list) and all(isinstance(x, str) and x for x in value):
                return tuple(value)
            return None

        return self.get(section, name, key, check, "a list of strings", None)


def _at_least(seconds: float | None, minimum: float) -> float | None:
    return seconds if seconds is not None and seconds >= minimum else None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    return None


def _as_int(value: Any, minimum: int) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    return None


def _as_fraction(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def _baseline(v: _Validator, raw: Any) -> BaselineConfig:
    section = v.mapping(raw, "baseline")
    v.known(section, "baseline", ("url", "store_payloads", "history_days", "lock_timeout", "statement_timeout"))
    return BaselineConfig(
        url=v.text(section, "url", "baseline", None),
        store_payloads=v.boolean(section, "store_payloads", "baseline", True),
        history_days=v.days(section, "history_days", "baseline", 30.0),
        lock_timeout=v.duration(section, "lock_timeout", "baseline", None),
        statement_timeout=v.duration(section, "statement_timeout", "baseline", None),
    )


def _deletion(v: _Validator, raw: Any, key: str) -> DeletionConfig | None:
    if raw is None:
        return None
    section = v.mapping(raw, key)
    v.known(section, key, ("min_misses", "max_fraction", "min_count", "confirm_max"))
    return DeletionConfig(
        min_misses=v.integer(section, "min_misses", key, 1, minimum=1),
        max_fraction=v.get(section, "max_fraction", key, _as_fraction, "a fraction between 0 and 1", 0.5),
        min_count=v.integer(section, "min_count", key, 10),
        confirm_max=v.integer(section, "confirm_max", key, 100),
    )


def _notify(v: _Validator, raw: Any) -> NotifyConfig:
    section = v.mapping(raw, "notify")
    v.known(section, "notify", ("sinks", "initial_load", "max_backlog", "retention_days", "max_notification_bytes"))
    sinks: list[SinkConfig] = []
    raw_sinks = section.get("sinks") or []
    if not isinstance(raw_sinks, list):
        v.report("notify.sinks", "must be a list of sinks")
        raw_sinks = []
    for index, item in enumerate(raw_sinks):
        entry = v.mapping(item, f"notify.sinks[{index}]")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            v.report(f"notify.sinks[{index}].name", "is required: letters, digits, '.', '_' or '-'")
            continue
        if any(s.name == name for s in sinks):
            v.report(f"notify.sinks[{index}].name", f"duplicate sink name {name!r}")
            continue
        kind = entry.get("type")
        if not isinstance(kind, str) or not kind:
            v.report(f"notify.sinks.{name}.type", "is required (stdout, jsonl, webhook, amqp)")
            kind = "?"
        options = {k: val for k, val in entry.items() if k not in ("name", "type")}
        try:
            sinks.append(SinkConfig(name, kind, v.interpolate(options, f"notify.sinks.{name}")))
        except ConfigError as exc:
            sinks.append(SinkConfig(name, kind, options, options_error=str(exc)))
    initial = v.text(section, "initial_load", "notify", "announce")
    if initial not in ("announce", "silent"):
        v.report("notify.initial_load", "must be announce or silent")
    return NotifyConfig(
        sinks=tuple(sinks),
        initial_load=initial,
        max_backlog=v.integer(section, "max_backlog", "notify", None, minimum=1),
        retention_days=v.days(section, "retention_days", "notify", None),
        max_notification_bytes=v.integer(section, "max_notification_bytes", "notify", 1_048_576, minimum=4096),
    )


def _service(v: _Validator, raw: Any) -> ServiceConfig:
    section = v.mapping(raw, "service")
    v.known(section, "service", ("workers", "stop_timeout", "metrics_port", "metrics_host", "misfire_grace", "lease_ttl",
                                 "refuse_readable_secrets", "hash_workers"))
    defaults = ServiceConfig()
    return ServiceConfig(
        workers=v.integer(section, "workers", "service", defaults.workers, minimum=1),
        stop_timeout=v.duration(section, "stop_timeout", "service", defaults.stop_timeout),
        metrics_port=v.integer(section, "metrics_port", "service", None, minimum=0),
        metrics_host=v.text(section, "metrics_host", "service", defaults.metrics_host),
        misfire_grace=v.duration(section, "misfire_grace", "service", defaults.misfire_grace),
        lease_ttl=v.get(section, "lease_ttl", "service", lambda x: _at_least(parse_duration(x), 1.0),
                        "a duration of at least 1s, like 30s", defaults.lease_ttl),
        refuse_readable_secrets=v.boolean(section, "refuse_readable_secrets", "service", False),
        hash_workers=v.integer(section, "hash_workers", "service", None, minimum=1),
    )


TOOZ_SCHEMES_HINT = "etcd3+http://HOST:2379, redis://HOST:6379, zookeeper://HOST:2181"


def _coordination(v: _Validator, raw: Any) -> CoordinationConfig | None:
    if raw is None:
        return None
    key = "coordination"
    section = v.mapping(raw, key)
    v.known(section, key, ("backend_url", "group", "heartbeat", "member_id", "membership_timeout", "grace"))
    url = v.text(section, "backend_url", key, None)
    if url is None:
        raise v.fail(f"{key}.backend_url", f"is required: a tooz URL such as {TOOZ_SCHEMES_HINT}")
    scheme = url.split("://", 1)[0] if "://" in url else ""
    known = tooz_schemes()
    if scheme not in known:
        offered = ", ".join(sorted(known)) or "none: install the cluster extra (pip install 'cloud-poller[cluster]')"
        raise v.fail(f"{key}.backend_url", f"unknown coordination backend {scheme or url!r} (tooz offers: {offered})")
    heartbeat = v.duration(section, "heartbeat", key, 2.0)
    if heartbeat <= 0:
        raise v.fail(f"{key}.heartbeat", "must be greater than zero")
    timeout = v.duration(section, "membership_timeout", key, None)
    if timeout is not None and timeout < 2 * heartbeat:
        raise v.fail(f"{key}.membership_timeout", "must be at least two heartbeats")
    group = v.text(section, "group", key, "cloud-poller")
    member = v.text(section, "member_id", key, None)
    for name, value in (("group", group), ("member_id", member)):
        if value is not None and not _NAME.match(value.replace(":", "-")):
            raise v.fail(f"{key}.{name}", "letters, digits, '.', ':', '_' or '-'")
    return CoordinationConfig(url, group, heartbeat, member, timeout, v.duration(section, "grace", key, None))


def tooz_schemes() -> set[str]:
    """The URL schemes of the installed tooz drivers (its ``tooz.backends`` entry points)."""
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="tooz.backends")}


_SOURCE_KEYS = (
    "name", "collector", "enabled", "interval", "cron", "jitter", "timeout", "run_at_start",
    "options", "ignore_fields", "entity_types", "notify", "deletion", "fields",
)


def _sources(v: _Validator, raw: Any) -> tuple[SourceConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        v.report("sources", "must be a list of sources")
        return ()
    out: list[SourceConfig] = []
    for index, item in enumerate(raw):
        entry = v.mapping(item, f"sources[{index}]")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            v.report(f"sources[{index}].name", "is required: letters, digits, '.', '_' or '-'")
            continue
        key = f"sources.{name}"
        if any(s.name == name for s in out):
            v.report(key, "duplicate source name")
            continue
        v.known(entry, key, _SOURCE_KEYS)
        collector = v.text(entry, "collector", key, None)
        if collector is None:
            v.report(f"{key}.collector", "is required (see `poller collectors`)")
        cron = v.text(entry, "cron", key, None)
        interval = v.duration(entry, "interval", key, None)
        if cron is not None and interval is not None:
            v.report(key, "set interval or cron, not both")
        if cron is not None:
            _check_cron(v, cron, f"{key}.cron")
        if interval is not None and interval <= 0:
            v.report(f"{key}.interval", "must be greater than zero")
        options, options_error = _source_options(v, entry.get("options"), f"{key}.options")
        fields, fields_error = _field_policy(v, entry.get("fields"), f"{key}.fields")
        out.append(
            SourceConfig(
                name=name,
                collector=collector or "?",
                enabled=v.boolean(entry, "enabled", key, True),
                interval=interval if interval is not None or cron is not None else 300.0,
                cron=cron,
                jitter=v.duration(entry, "jitter", key, 0.0),
                timeout=v.duration(entry, "timeout", key, None),
                run_at_start=v.boolean(entry, "run_at_start", key, True),
                options=options,
                ignore_fields=_ignore_fields(v, entry.get("ignore_fields"), f"{key}.ignore_fields"),
                entity_types=v.strings(entry, "entity_types", key),
                notify=v.strings(entry, "notify", key),
                deletion=_deletion(v, entry.get("deletion"), f"{key}.deletion"),
                fields=fields,
                options_error=options_error or fields_error,
            )
        )
    return tuple(out)


def _field_policy(v: _Validator, raw: Any, key: str) -> tuple[FieldPolicy, str | None]:
    """The source's field policy, and the problem of a redaction_key naming an unset ${ENV}
    (a secret: demanded only when the source is built to run, like its options)."""
    if raw is None:
        return FieldPolicy(), None
    section = v.mapping(raw, key)
    v.known(section, key, ("keep", "drop", "redact", "redaction_key", "redaction_key_file", "empty_equals_missing"))
    sections = {name: _pointer_lists(v, section.get(name), f"{key}.{name}") for name in ("keep", "drop", "redact")}
    raw_key, lazy_error = section.get("redaction_key"), None
    key_file = section.get("redaction_key_file")
    if key_file is not None and raw_key is not None:
        v.report(f"{key}.redaction_key_file", "set redaction_key or redaction_key_file, not both")
    try:
        if key_file is not None and raw_key is None:
            raw_key = redaction_key = v.secret_file(key_file, f"{key}.redaction_key_file")
        else:
            redaction_key = v.interpolate(raw_key, f"{key}.redaction_key") if isinstance(raw_key, str) and raw_key else None
    except ConfigError as exc:
        redaction_key, lazy_error = raw_key or key_file, str(exc)
    if raw_key is not None and not (isinstance(raw_key, str) and raw_key):
        v.report(f"{key}.redaction_key", "must be a non-empty string")
    elif sections["redact"] and not redaction_key:
        v.report(f"{key}.redaction_key", "is required with redact (a secret, e.g. ${POLLER_REDACTION_KEY})")
    empty = section.get("empty_equals_missing", False)
    if not isinstance(empty, bool):
        v.report(f"{key}.empty_equals_missing", "must be true or false")
        empty = False
    return FieldPolicy(keep=sections["keep"], drop=sections["drop"], redact=sections["redact"],
                       redaction_key=redaction_key, empty_equals_missing=empty), lazy_error


def _pointer_lists(v: _Validator, raw: Any, key: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for etype, paths in v.mapping(raw, key).items():
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            v.report(f"{key}.{etype}", "must be a list of JSON pointers (each starting with '/')")
            continue
        out[str(etype)] = tuple(paths)
    return out
def _source_options(v: _Validator, raw: Any, key: str) -> tuple[dict[str, Any], str | None]:
    """The options interpolated, or (uninterpolated, the problem) when one names an unset ${ENV}:
    secrets are demanded only of sources that are built to run."""
    section = v.mapping(raw, key)
    try:
        return v.interpolate(section, key), None
    except ConfigError as exc:
        return section, str(exc)


def _ignore_fields(v: _Validator, raw: Any, key: str) -> dict[str, tuple[str, ...]]:
    section = v.mapping(raw, key)
    out: dict[str, tuple[str, ...]] = {}
    for etype, paths in section.items():
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            v.report(f"{key}.{etype}", "must be a list of JSON pointers")
            continue
        for p in paths:
            if not p.lstrip("!").startswith("/"):
                v.report(f"{key}.{etype}", f"{p!r} is not a JSON pointer (it must start with '/', or '!/' to un-ignore)")
        out[str(etype)] = tuple(paths)
    return out


def _check_cron(v: _Validator, expression: str, key: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        v.report(key, f"not a crontab expression ({exc})")


def masked_document(config: Config) -> dict[str, Any]:
    """The effective configuration (defaults filled in, ${ENV} and ``*_file`` resolved) as plain
    data for ``poller config show``: every secret value is ``***`` (keys are kept), URL passwords too."""
    from dataclasses import asdict

    document = asdict(config)
    for name in ("inline_secrets", "secret_files"):
        document.pop(name, None)
    return _masked(document, secret=False)


def _masked(value: Any, secret: bool, key: str = "") -> Any:
    secret = secret or (bool(key) and is_secret_option(key))
    if isinstance(value, Mapping):
        return {str(k): _masked(v, secret, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, secret) for v in value]
    if secret and value not in (None, "", False, True):
        return MASK
    return redact_text(value) if isinstance(value, str) else value
