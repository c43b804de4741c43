"""F20 through the installed CLI: ``poller snapshot`` with a webhook that hangs fills the jsonl
sink, ends within service.stop_timeout, and the webhook catches up from its own cursor later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from baseline.store import open_store
from tests.e2e.test_cli import poller
from tests.poller.notify.test_isolation import HangingReceiver


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    """A webhook receiver that holds every request until released."""
    receiver = HangingReceiver()
    yield receiver
    receiver.close()


def test_F20_snapshot_with_a_hanging_webhook(tmp_path: Path, hanging: HangingReceiver) -> None:
    """F20: the jsonl sink gets every notification while the webhook hangs; the snapshot still ends
    (bounded by service.stop_timeout), and a later snapshot delivers the webhook's backlog."""
    (tmp_path / "inv.jsonl").write_text("".join(
        orjson.dumps({"type": "vm", "key": k, "attributes": {}}).decode() + "\n" for k in "abc"
    ))
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        "service: {stop_timeout: 1s}\n"
        "notify: {sinks: ["
        f"{{name: hook, type: webhook, url: '{hanging.url}', timeout: 60}}, "
        f"{{name: file, type: jsonl, path: '{tmp_path}/out.jsonl'}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{tmp_path}/inv.jsonl'}}}}]\n"
    )
    first = poller("snapshot", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert not hanging.release.is_set() and hanging.ids() == []
    store = open_store(f"sqlite:///{tmp_path}/b.db")
    try:
        outbox = [row.id for row in store.history()]
        written = [orjson.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert written == outbox and len(outbox) == 3
        assert store.cursor("hook").position == 0  # type: ignore[union-attr]
        hanging.release.set()
        second = poller("snapshot", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert list(dict.fromkeys(hanging.ids())) == outbox  # at least once, in order (deduplicated by id)
        assert store.cursor("hook").position == store.last_seq()  # type: ignore[union-attr]
    finally:
        store.close()
