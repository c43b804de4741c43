"""Configuration loading: interpolation, validation and messages naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.errors import OptionError
from collectors.openstack.options import parse_options
from poller.config import find_config, load_config, parse_config, parse_duration
from poller.errors import ConfigError, ConfigProblems
from poller.history import parse_since
from poller.run.snapshot import build_collector


def parse(text: str, **env: str):  # type: ignore[no-untyped-def]
    return parse_config(text, "poller.yaml", env)


class TestValidation:
    """Bad values are one error naming the file and the key."""

    def test_unknown_top_level_key(self) -> None:
        """B09: An unknown section is named with the file."""
        with pytest.raises(ConfigError, match=r"^poller.yaml: sourcez: unknown key"):
            parse("sourcez: []")

    def test_unknown_source_key(self) -> None:
        """B09: An unknown key inside a source names the source."""
        with pytest.raises(ConfigError, match=r"sources.a.intervall: unknown key"):
            parse("sources: [{name: a, collector: noop, intervall: 5}]")

    def test_bad_interval(self) -> None:
        """B10: An unparseable duration names the field."""
        with pytest.raises(ConfigError, match=r"sources.a.interval: must be a duration"):
            parse("sources: [{name: a, collector: noop, interval: soon}]")

    def test_interval_and_cron_conflict(self) -> None:
        """A source takes interval or cron, not both."""
        with pytest.raises(ConfigError, match="not both"):
            parse("sources: [{name: a, collector: noop, interval: 5m, cron: '* * * * *'}]")

    def test_bad_cron(self) -> None:
        """A broken crontab expression is rejected."""
        with pytest.raises(ConfigError, match=r"sources.a.cron"):
            parse("sources: [{name: a, collector: noop, cron: 'every day'}]")

    def test_duplicate_source(self) -> None:
        """Source names are unique."""
        with pytest.raises(ConfigError, match="duplicate source name"):
            parse("sources: [{name: a, collector: noop}, {name: a, collector: noop}]")

    def test_routing_to_unknown_sink(self) -> None:
        """A source may only route to configured sinks."""
        with pytest.raises(ConfigError, match="no sink named 'x'"):
            parse("sources: [{name: a, collector: noop, notify: [x]}]")

    def test_invalid_yaml_names_line(self) -> None:
        """Broken YAML is reported with its line."""
        with pytest.raises(ConfigError, match="invalid YAML at line [0-9]"):
            parse("sources:\n  - name: [a\n")

    def test_ignore_fields_must_be_pointers(self) -> None:
        """ignore_fields entries are JSON pointers."""
        with pytest.raises(ConfigError, match="not a JSON pointer"):
            parse("sources: [{name: a, collector: noop, ignore_fields: {vm: [updated]}}]")

    def test_max_fraction_range(self) -> None:
        """B10: deletion.max_fraction is between 0 and 1."""
        with pytest.raises(ConfigError, match="deletion.max_fraction"):
            parse("deletion: {max_fraction: 5}")


class TestValues:
    """Defaults, durations and interpolation."""

    def test_defaults(self) -> None:
        """An empty file is a valid config with DESIGN.md's defaults."""
        config = parse("")
        assert config.deletion.min_misses == 1 and config.deletion.max_fraction == 0.5 and config.deletion.min_count == 10
        assert config.baseline.store_payloads is True and config.notify.initial_load == "announce"

    @pytest.mark.parametrize(("text", "seconds"), [
        ("30", 30), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("1w", 604800), ("1h 30m", 5400),
        ("1.5h", 5400), ("2W", 1209600), ("1w2d3h4m5s", 788645), (45, 45), (0.5, 0.5),
    ])
    def test_durations(self, text: object, seconds: float) -> None:
        """Durations accept seconds and w/d/h/m/s suffixes, combined largest first."""
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["", "x", "5m1h", "1h1h", "-5", "1y", "5 minutes", True, None, [1], -1])
    def test_not_durations(self, text: object) -> None:
        """Anything else is not a duration (None), never a guess."""
        assert parse_duration(text) is None

    @pytest.mark.parametrize(("key", "where"), [
        ("sources: [{name: a, collector: noop, interval: 1h30m}]", lambda c: c.sources[0].interval),
        ("sources: [{name: a, collector: noop, jitter: 1w}]", lambda c: c.sources[0].jitter),
        ("sources: [{name: a, collector: noop, timeout: 1h30m}]", lambda c: c.sources[0].timeout),
        ("service: {stop_timeout: 1h30m}", lambda c: c.service.stop_timeout),
        ("service: {misfire_grace: 1h30m}", lambda c: c.service.misfire_grace),
    ])
    def test_every_duration_key_takes_the_same_syntax(self, key: str, where) -> None:  # type: ignore[no-untyped-def]
        """1h30m means 5400 s (1w 604800 s) in every duration key of the config."""
        expected = 604800.0 if "1w" in key else 5400.0
        assert where(parse(key)) == expected

    def test_day_keys_take_numbers_and_durations(self) -> None:
        """history_days and retention_days are days, written as a number or as a duration."""
        config = parse("baseline: {history_days: 2w}\nnotify: {retention_days: 12h}")
        assert config.baseline.history_days == 14 and config.notify.retention_days == 0.5
        assert parse("baseline: {history_days: 7}").baseline.history_days == 7

    def test_openstack_full_every_takes_the_same_syntax(self) -> None:
        """The OpenStack collector's full_every and changes_since_margin use the one parser (1h30m, 1w)."""
        options = parse_options("os", {"cloud": "c", "full_every": "1h30m", "changes_since_margin": "1w"})
        assert options.full_every.total_seconds() == 5400 and options.changes_since_margin.total_seconds() == 604800
        with pytest.raises(OptionError, match=r"sources.os.options.full_every: .*'1x'"):
            parse_options("os", {"cloud": "c", "full_every": "1x"})

    def test_since_takes_the_same_syntax(self) -> None:
        """--since takes the same durations (a bare number is seconds) and names itself when wrong."""
        from datetime import UTC, datetime, timedelta

        now = datetime(2026, 1, 8, tzinfo=UTC)
        assert parse_since("1w", now) == now - timedelta(weeks=1)
        assert parse_since("30", now) == now - timedelta(seconds=30)
        with pytest.raises(ConfigError, match=r"--since '3x': not a duration"):
            parse_since("3x", now)

    def test_bad_duration_names_field_and_value(self) -> None:
        """A wrong duration names the key and the value given."""
        with pytest.raises(ConfigError, match=r"poller.yaml: sources.a.interval: must be a duration like .*, not '90 minutes'"):
            parse("sources: [{name: a, collector: noop, interval: 90 minutes}]")

    def test_env_interpolation(self) -> None:
        """S05: ${VAR} and ${VAR:-default} are expanded inside option values."""
        config = parse("sources: [{name: a, collector: noop, options: {p: '${PW}', q: '${NOPE:-dflt}', r: '$${LIT}'}}]", PW="s3cret")
        assert dict(config.sources[0].options) == {"p": "s3cret", "q": "dflt", "r": "${LIT}"}

    def test_missing_env_names_key_not_value(self) -> None:
        """A missing variable is named with its key when the source is built to run; no value is echoed."""
        config = parse("sources: [{name: a, collector: noop, options: {password: '${PW}'}}]")
        with pytest.raises(ConfigError, match=r"sources.a.options.password needs the environment variable PW, which is not set"):
            build_collector(config.sources[0])

    def test_secrets_are_demanded_only_of_sources_that_run(self) -> None:
        """S05: a source's unset ${ENV} does not stop the config from loading (read-only commands work)."""
        config = parse("sources: [{name: a, collector: noop, enabled: false, options: {password: '${PW}'}},"
                       " {name: b, collector: noop, options: {token: '${TOK}'}}]", TOK="t")
        assert config.sources[0].options_error is not None and config.sources[1].options == {"token": "t"}

    def test_sink_secrets_are_demanded_when_the_sink_is_built(self) -> None:
        """A sink's unset ${ENV} does not stop the load; building the sink names the variable."""
        from poller.errors import SinkConfigError
        from poller.notify.registry import build_sink

        config = parse("notify: {sinks: [{name: hook, type: webhook, url: 'http://127.0.0.1:9/', secret: '${HOOK_SECRET}'}]}")
        with pytest.raises(SinkConfigError, match=r"notify.sinks.hook.secret needs the environment variable HOOK_SECRET"):
            build_sink(config.notify.sinks[0])

    def test_missing_env_outside_source_options_still_fails(self) -> None:
        """A missing variable in baseline.url is an error at load (every command needs the baseline)."""
        with pytest.raises(ConfigError, match=r"baseline.url needs the environment variable DB"):
            parse("baseline: {url: '${DB}'}")

    def test_sinks_parse(self) -> None:
        """Sink entries keep their own options."""
        config = parse("notify: {sinks: [{name: f, type: jsonl, path: /tmp/x}]}")
        assert config.notify.sinks[0].options == {"path": "/tmp/x"}


class TestEveryProblem:
    """Every problem in a file is found, not just the first."""

    TEXT = ("service: {workers: 0, stop_timeout: soon}\n"
            "sources:\n"
            "  - {name: a, collector: noop, intervall: 5}\n"
            "  - {name: b, collector: noop, cron: 'not cron'}\n"
            "  - {name: c, collector: noop, notify: [nowhere]}\n")

    def test_all_problems_raise_together(self) -> None:
        """ConfigProblems holds each problem; its message is the first plus a count."""
        with pytest.raises(ConfigProblems) as caught:
            parse(self.TEXT)
        problems = caught.value.problems
        assert len(problems) == 5, problems
        assert any("service.workers" in p for p in problems) and any("service.stop_timeout" in p for p in problems)
        assert any("sources.a.intervall" in p for p in problems) and any("sources.b.cron" in p for p in problems)
        assert any("sources.c.notify" in p for p in problems)
        assert "(and 4 more problems: run `poller check-config`)" in str(caught.value)

    def test_collecting_returns_a_best_effort_config(self) -> None:
        """With a problems list, the valid parts still come back (for check-config to go on)."""
        problems: list[str] = []
        config = parse_config(self.TEXT, "poller.yaml", {}, problems)
        assert [s.name for s in config.sources] == ["a", "b", "c"] and len(problems) == 5


class TestFinding:
    """Which file is read."""

    def test_explicit_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """--config beats $POLLER_CONFIG."""
        monkeypatch.setenv("POLLER_CONFIG", "/env.yaml")
        assert find_config("/x.yaml") == "/x.yaml"
        assert find_config(None) == "/env.yaml"

    def test_cwd_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """./poller.yaml is found when nothing else is set."""
        monkeypatch.delenv("POLLER_CONFIG", raising=False)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "poller.yaml").write_text("")
        assert find_config(None) == "./poller.yaml"

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is one clear error."""
        with pytest.raises(ConfigError, match="configuration file not found"):
            load_config(str(tmp_path / "none.yaml"))

    def test_non_utf8_file(self, tmp_path: Path) -> None:
        """Non-UTF-8 bytes are reported, not decoded wrongly."""
        path = tmp_path / "bad.yaml"
        path.write_bytes(b"sources: \xff\xfe")
        with pytest.raises(ConfigError, match="not UTF-8"):
            load_config(str(path))


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """etc/poller.yaml, the documented example of every option, validates."""
    for var in ("OS_PASSWORD", "CS_API_KEY", "CS_SECRET_KEY", "WEBHOOK_SECRET", "AMQP_PASSWORD", "EVENTS_TOKEN", "LIBVIRT_PASSWORD"):
        monkeypatch.setenv(var, "x")
    root = Path(__file__).resolve().parents[2]
    config = load_config(str(root / "etc" / "poller.yaml"))
    assert config.sources
