"""The sinks behind the real dispatcher: notifications from real runs, a SQLite outbox, real receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from baseline import schema
from baseline.store import Store, open_store
from poller.notify.amqp import AmqpSink, routing_key
from poller.notify.dispatch import Dispatcher
from poller.notify.webhook import WebhookSink
from tests.poller.helpers import run, vm
from tests.poller.notify.conftest import Answer, Bound, RabbitControl, Receiver, load_verify_recipe

SECRET = "dispatch-secret-canary"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite baseline (WAL, synchronous=FULL) in a temporary directory."""
    store = open_store(f"sqlite:///{tmp_path / 'baseline.db'}")
    yield store
    store.close()


def outbox_ids(store: Store) -> list[str]:
    return [row.id for row in store.history()]


def parked_reasons(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [row.reason for row in conn.execute(sa.select(schema.parked).order_by(schema.parked.c.seq))]


class TestWebhookWithDispatcher:
    def test_outage_then_recovery_delivers_everything_in_order(
        self, sqlite_store: Store, clock: Any, receiver: Receiver
    ) -> None:
        """F18: Through 500s and a closed port, the backlog waits in the outbox and then arrives in order, signed."""
        sink = WebhookSink("hook", {"url": receiver.url, "secret": SECRET, "timeout": 1})
        dispatcher = Dispatcher(sqlite_store, [sink])
        dispatcher.register_cursors()
        receiver.script.append(Answer(500, b"down"))
        run(sqlite_store, [vm("a"), vm("b")], clock)
        assert dispatcher.deliver_pending(force=True) == 0
        receiver.stop()
        run(sqlite_store, [vm("a"), vm("b"), vm("c")], clock)
        assert dispatcher.deliver_pending(force=True) == 0
        assert dispatcher.backlog() == {"hook": 3}
        receiver.start()
        run(sqlite_store, [vm("a", size=2), vm("b"), vm("c")], clock)
        assert dispatcher.deliver_pending(force=True) == 4
        dispatcher.close()
        events = [orjson.loads(r.body) for r in receiver.accepted()]
        assert [e["id"] for e in events] == outbox_ids(sqlite_store)
        assert [(e["key"], e["action"]) for e in events] == [
            ("a", "create"), ("b", "create"), ("c", "create"), ("a", "update"),
        ]
        verify = load_verify_recipe()
        assert all(verify(SECRET, r.headers, r.body) for r in receiver.accepted())
        assert dispatcher.backlog() == {"hook": 0}

    def test_refused_notification_is_parked_and_the_rest_delivered(
        self, sqlite_store: Store, clock: Any, receiver: Receiver
    ) -> None:
        """A 422 parks exactly that notification, with the status and first line but no secret, and the rest arrive."""
        sink = WebhookSink("hook", {"url": receiver.url, "secret": SECRET, "headers": {"X-Token": "tok-canary"}})
        dispatcher = Dispatcher(sqlite_store, [sink])
        dispatcher.register_cursors()
        run(sqlite_store, [vm("a"), vm("b"), vm("c")], clock)
        receiver.script.extend([Answer(), Answer(422, echo=True)])
        assert dispatcher.deliver_pending(force=True) == 2
        dispatcher.close()
        assert [orjson.loads(r.body)["key"] for r in receiver.accepted()] == ["a", "c"]
        [reason] = parked_reasons(sqlite_store)
        assert "HTTP 422" in reason and "echo /hook" in reason
        assert SECRET not in reason and "tok-canary" not in reason and "v1=" not in reason


@pytest.mark.rabbitmq
@pytest.mark.slow
class TestAmqpWithDispatcher:
    def test_broker_restart_between_runs_loses_nothing(
        self, sqlite_store: Store, clock: Any, private_bound: Bound, rabbit_control: RabbitControl
    ) -> None:
        """Notifications produced while RabbitMQ is stopped wait in the outbox and reach the queue after it returns."""
        sink = AmqpSink("bus", {"url": private_bound.url, "exchange": private_bound.exchange, "timeout": 5})
        dispatcher = Dispatcher(sqlite_store, [sink])
        dispatcher.register_cursors()
        run(sqlite_store, [vm("a"), vm("b")], clock)
        assert dispatcher.deliver_pending(force=True) == 2
        rabbit_control.stop_app()
        try:
            run(sqlite_store, [vm("a"), vm("b", size=3), vm("c")], clock)
            assert dispatcher.deliver_pending(force=True) == 0
            assert dispatcher.backlog() == {"bus": 2}
        finally:
            rabbit_control.start_app()
        assert dispatcher.deliver_pending(force=True) == 2
        dispatcher.close()
        got = private_bound.messages()
        rows = list(sqlite_store.history())
        assert [m.properties["message_id"] for m in got] == [row.id for row in rows]
        assert [m.delivery_info["routing_key"] for m in got] == [routing_key(_record(row)) for row in rows]


def _record(row: Any) -> Any:
    from poller.notify.dispatch import to_record

    return to_record(row)
