"""Configuration loading: interpolation, validation and messages naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config import find_config, load_config, parse_config, parse_duration
from poller.errors import ConfigError


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

    @pytest.mark.parametrize(("text", "seconds"), [("30", 30), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1d", 86400), (45, 45)])
    def test_durations(self, text: object, seconds: float) -> None:
        """Durations accept seconds and s/m/h/d suffixes."""
        assert parse_duration(text) == seconds

    def test_env_interpolation(self) -> None:
        """S05: ${VAR} and ${VAR:-default} are expanded inside option values."""
        config = parse("sources: [{name: a, collector: noop, options: {p: '${PW}', q: '${NOPE:-dflt}', r: '$${LIT}'}}]", PW="s3cret")
        assert dict(config.sources[0].options) == {"p": "s3cret", "q": "dflt", "r": "${LIT}"}

    def test_missing_env_names_key_not_value(self) -> None:
        """A missing variable is named with its key; no value is echoed."""
        with pytest.raises(ConfigError, match=r"sources.a.options.password: environment variable PW is not set"):
            parse("sources: [{name: a, collector: noop, options: {password: '${PW}'}}]")

    def test_sinks_parse(self) -> None:
        """Sink entries keep their own options."""
        config = parse("notify: {sinks: [{name: f, type: jsonl, path: /tmp/x}]}")
        assert config.notify.sinks[0].options == {"path": "/tmp/x"}


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
