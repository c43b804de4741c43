"""The private servers outage tests use are theirs alone: stopping one leaves the shared servers answering."""

from __future__ import annotations

import os

import kombu
import pytest
import sqlalchemy as sa

from tests.private_servers import PrivatePostgres, PrivateRabbit


def _answers_amqp(url: str) -> bool:
    connection = kombu.Connection(url, connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=0)
        return True
    except Exception:
        return False
    finally:
        connection.release()


def _answers_sql(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT 1").scalar() == 1
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.mark.rabbitmq
def test_private_rabbit_stop_app_leaves_the_shared_broker(private_rabbit: PrivateRabbit) -> None:
    """Stopping the private node's app refuses its own port only; its node name and port are not the shared ones."""
    assert private_rabbit.port != 5672 and not private_rabbit.node.startswith("rabbit@")
    private_rabbit.ctl("stop_app")
    try:
        assert not _answers_amqp(private_rabbit.url)
        shared = os.environ.get("POLLER_TEST_AMQP_URL")
        assert shared is None or _answers_amqp(shared)
    finally:
        private_rabbit.ctl("start_app")
        private_rabbit.ctl("await_startup")
    assert _answers_amqp(private_rabbit.url)


@pytest.mark.postgres
def test_private_postgres_stop_leaves_the_shared_server(private_pg: PrivatePostgres, pg_server: str) -> None:
    """Stopping the private cluster makes it refuse connections while the shared server keeps answering."""
    assert private_pg.port != 5432
    private_pg.stop()
    try:
        assert not _answers_sql(private_pg.admin_url)
        assert _answers_sql(pg_server)
    finally:
        private_pg.start()
    assert _answers_sql(private_pg.admin_url)
