"""Canary secrets: tokens, HMAC secrets and broker passwords never show in logs, answers or repr."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import orjson
import structlog

from collectors.openstack.emulator import OpenStackEmulator
from poller.events.auth import sign
from tests.poller.events.conftest import HMAC_SECRET, TOKEN, Env, oslo_v2

MakeEnv = Callable[..., Env]


def test_failure_paths_never_reveal_secrets(make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
    """B12: Drive 401/400/413/unknown-source and an unreachable broker; no canary appears anywhere."""
    broker_password = "amqp-pw-" + uuid.uuid4().hex
    url = f"amqp://poller:{broker_password}@127.0.0.1:1//"
    events = {"http": {"port": 0, "max_body": 2000},
              "sources": {"os1": {"token": TOKEN, "hmac_secret": HMAC_SECRET, "amqp": {"url": url, "exchanges": ["nova"]}}}}
    answers: list[str] = []
    with structlog.testing.capture_logs() as logs:
        env = make_env(os=os_emulator, baseline=False, events=events)
        body = orjson.dumps(oslo_v2("compute.instance.update", {"instance_id": "x"}))
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": f"Basic {TOKEN}"},
                        {"X-CS-Signature": sign(HMAC_SECRET, body + b"!")}, {"X-CS-Signature": HMAC_SECRET}):
            answers.append(repr(env.post("os1", body, **headers)))
        answers.append(repr(env.post_os(b"{broken " + TOKEN.encode())))
        answers.append(repr(env.post_os(b"x" * 3000)))
        answers.append(repr(env.post("ghost", body, Authorization=f"Bearer {TOKEN}")))
        time.sleep(1.2)  # the listener fails to connect at least once
        env.service.stop(5)
    text = "\n".join(answers) + repr(logs) + repr(env.service.events) + repr(env.service.snapshot())
    assert any(entry["event"] == "events_amqp_unavailable" for entry in logs)
    assert any(entry["event"] == "events_unauthorized" for entry in logs)
    for canary in (TOKEN, HMAC_SECRET, broker_password):
        assert canary not in text
