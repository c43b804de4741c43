"""Validation of the ``events:`` section: defaults, per-source auth, AMQP defaults, named errors."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from poller.config import parse_config
from poller.errors import ConfigError
from poller.events.config import OPENSTACK_TOPIC, events_config

SOURCES = [{"name": "os1", "collector": "openstack"}, {"name": "cs1", "collector": "cloudstack"}]


def load(events: Any, environ: dict[str, str] | None = None) -> Any:
    text = yaml.safe_dump({"sources": SOURCES, "events": events})
    return events_config(parse_config(text, "poller.yaml", environ or {}))


def error_of(events: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        load(events)
    return str(raised.value)


class TestDefaults:
    def test_empty_section_is_disabled(self) -> None:
        """No events: section means no intake at all."""
        assert not load(None).enabled

    def test_http_defaults(self) -> None:
        """http: {} listens on 127.0.0.1:8787 with a 1 MiB body limit; debounce 2 s, queue 10,000."""
        cfg = load({"http": {}, "sources": {"os1": {"token": "t"}}})
        assert (cfg.http.host, cfg.http.port, cfg.http.max_body) == ("127.0.0.1", 8787, 1048576)
        assert (cfg.debounce, cfg.queue_size, cfg.enabled) == (2.0, 10000, True)

    def test_sizes_and_durations(self) -> None:
        """max_body takes KiB/MiB suffixes and debounce takes durations."""
        cfg = load({"http": {"max_body": "512KiB"}, "debounce": "0.5s", "sources": {"os1": {"token": "t"}}})
        assert cfg.http.max_body == 512 * 1024 and cfg.debounce == 0.5

    def test_amqp_defaults_follow_the_collector(self) -> None:
        """OpenStack listens on the service exchanges' notifications.info; CloudStack on cloudstack-events, '#'."""
        cfg = load({"sources": {"os1": {"token": "t", "amqp": {"url": "amqp://h//"}},
                                "cs1": {"hmac_secret": "s", "amqp": {"url": "amqp://h//"}}}})
        os_amqp, cs_amqp = cfg.sources["os1"].amqp, cfg.sources["cs1"].amqp
        assert "nova" in os_amqp.exchanges and os_amqp.topics == (OPENSTACK_TOPIC,) and not os_amqp.durable_exchanges
        assert cs_amqp.exchanges == ("cloudstack-events",) and cs_amqp.topics == ("#",) and cs_amqp.durable_exchanges
        assert os_amqp.queue == "cloud-poller.events.os1"

    def test_secrets_come_from_the_environment(self) -> None:
        """S05: ${ENV} interpolation fills tokens, and repr never shows them."""
        cfg = load({"sources": {"os1": {"token": "${EVT_TOKEN}"}}}, {"EVT_TOKEN": "s3cr3t-value"})
        assert cfg.sources["os1"].token == "s3cr3t-value" and "s3cr3t-value" not in repr(cfg)


class TestErrors:
    @pytest.mark.parametrize(("events", "key"), [
        ({"nonsense": 1}, "events.nonsense: unknown key"),
        ({"http": {}}, "events.sources: is empty"),
        ({"http": {"port": 70000}, "sources": {"os1": {"token": "t"}}}, "events.http.port: must be an integer"),
        ({"http": {"max_body": "lots"}, "sources": {"os1": {"token": "t"}}}, "events.http.max_body: must be a size"),
        ({"debounce": "soon"}, "events.debounce: must be a duration"),
        ({"queue_size": 0}, "events.queue_size: must be an integer"),
        ({"sources": {"ghost": {"token": "t"}}}, "events.sources.ghost: no source named 'ghost'"),
        ({"sources": {"os1": {}}}, "events.sources.os1: set token"),
        ({"sources": {"os1": {"auth": "none", "token": "t"}}}, "events.sources.os1.auth: is none"),
        ({"sources": {"os1": {"auth": "hmac"}}}, "events.sources.os1.hmac_secret: is required"),
        ({"sources": {"os1": {"auth": "magic"}}}, "events.sources.os1.auth: must be token, hmac or none"),
        ({"sources": {"os1": {"token": "t", "amqp": {}}}}, "events.sources.os1.amqp.url: is required"),
        ({"sources": {"os1": {"token": "t", "amqp": {"url": "http://x"}}}}, "events.sources.os1.amqp.url: must start"),
        ({"sources": {"os1": {"token": "t", "amqp": {"url": "amqp://x", "exchanges": []}}}},
         "events.sources.os1.amqp.exchanges: must be a non-empty list"),
    ])
    def test_errors_name_file_and_key(self, events: Any, key: str) -> None:
        """Each problem is one ConfigError naming poller.yaml and the events.<key>."""
        message = error_of(events)
        assert message.startswith("poller.yaml: ") and key in message

    def test_errors_never_echo_a_secret(self) -> None:
        """A bad AMQP URL carrying a password is refused without quoting it."""
        message = error_of({"sources": {"os1": {"token": "t", "amqp": {"url": "http://u:hunter2@x"}}}})
        assert "hunter2" not in message
