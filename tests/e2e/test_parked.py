"""``poller snapshot`` / ``notifications status`` / ``notifications replay --parked`` as subprocesses
against a real webhook receiver that answers 404 (issue 12, item 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.test_cli import poller
from tests.poller.notify.conftest import Answer, Receiver


@pytest.fixture
def refusing() -> Iterator[Receiver]:
    """A webhook receiver that answers 404 to the first two requests, then 200."""
    server = Receiver()
    server.script.extend([Answer(404, b"no such hook"), Answer(404, b"no such hook")])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workdir(tmp_path: Path, refusing: Receiver) -> Path:
    """A poller.yaml over two inline entities with a jsonl sink and a webhook sink (one notification per request)."""
    (tmp_path / "inv.jsonl").write_text(
        '{"type":"vm","key":"a","attributes":{}}\n{"type":"vm","key":"b","attributes":{}}\n'
    )
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        "notify: {sinks: ["
        f"{{name: file, type: jsonl, path: '{tmp_path}/out.jsonl'}}, "
        f"{{name: hook, type: webhook, url: '{refusing.url}', batch_size: 1}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{tmp_path}/inv.jsonl'}}}}]\n"
    )
    return tmp_path


def received_ids(receiver: Receiver) -> list[str]:
    return [orjson.loads(r.body)["id"] for r in receiver.accepted()]


def test_parked_notifications_fail_the_snapshot_and_are_replayed(workdir: Path, refusing: Receiver) -> None:
    """A webhook answering 404 parks: snapshot exits 1 naming the sink, status shows them, replay --parked sends them."""
    result = poller("snapshot", cwd=workdir)
    assert result.returncode == 1, result.stderr
    [line] = [x for x in result.stderr.splitlines() if "parked" in x and x.startswith("poller:")]
    assert "sink hook parked 2 notifications" in line and "--sink hook --parked" in line
    ids = [json.loads(x)["id"] for x in (workdir / "out.jsonl").read_text().splitlines()]
    assert len(ids) == 2 and received_ids(refusing) == []

    status = poller("notifications", "status", "--format", "json", cwd=workdir)
    assert status.returncode == 0, status.stderr
    hook = next(s for s in json.loads(status.stdout) if s["sink"] == "hook")
    assert (hook["backlog"], hook["parked"]) == (0, 2) and hook["first_parked"] and "404" in hook["parked_error"]
    assert "PARKED" in poller("notifications", "status", cwd=workdir).stdout

    replay = poller("notifications", "replay", "--sink", "hook", "--parked", cwd=workdir)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 2 parked notifications to hook" in replay.stderr
    assert received_ids(refusing) == ids
    hook = next(s for s in json.loads(poller("notifications", "status", "--format", "json", cwd=workdir).stdout)
                if s["sink"] == "hook")
    assert hook["parked"] == 0


def test_replay_needs_since_or_parked(workdir: Path) -> None:
    """replay without --since or --parked (or with both) is a usage error (exit 2)."""
    assert poller("notifications", "replay", "--sink", "hook", cwd=workdir).returncode == 2
    assert poller("notifications", "replay", "--sink", "hook", "--parked", "--since", "1h", cwd=workdir).returncode == 2
