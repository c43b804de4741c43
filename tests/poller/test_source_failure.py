"""A source-wide failure (credentials, reachability) ends the run at once, as ``failed``,
with nothing committed; types not yet listed are ``not_tried`` (B11, F02)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from baseline.store import Store
from collectors.base import Collector, Entity, EntityType, ListContext, Listing
from collectors.errors import AuthenticationFailed, SourceUnreachable
from tests.poller.helpers import run, vm

TYPES = (EntityType("a"), EntityType("b"), EntityType("c"), EntityType("d"))


class Cloud(Collector):
    """Four types of one entity each; ``connect`` and the listing of ``drop_at`` can fail source-wide."""

    name = "cloud"
    entity_types = TYPES

    def __init__(self, login: Exception | None = None, drop_at: str | None = None) -> None:
        super().__init__("src", {})
        self.login = login
        self.drop_at = drop_at
        self.connects = 0
        self.listed: list[str] = []

    def connect(self) -> None:
        self.connects += 1
        if self.login is not None:
            raise self.login

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        self.listed.append(etype.name)
        return Listing(etype.name, self._gen(etype.name))

    def _gen(self, name: str) -> Iterator[Entity]:
        if name == self.drop_at:
            raise SourceUnreachable("source src: cannot connect to the endpoint")
        yield Entity(name, f"{name}1", name=f"{name}1")


def source_run(store: Store, clock: Any, collector: Cloud) -> Any:
    result, _notes = run(store, [vm("x")], clock, collector=collector)
    return result


class TestSourceFailure:
    def test_B11_rejected_login_lists_no_type(self, store: Store, clock: Any) -> None:
        """B11: credentials rejected in connect(): one attempt, no type listed, the run failed with failure=auth."""
        cloud = Cloud(login=AuthenticationFailed("source src: the identity service rejected the credentials"))
        result = source_run(store, clock, cloud)
        assert (cloud.connects, cloud.listed) == (1, [])
        assert (result.status, result.failure) == ("failed", "auth")
        assert "rejected the credentials" in (result.error or "")

    def test_F02_unreachable_midway_stops_the_run_and_commits_nothing(self, store: Store, clock: Any) -> None:
        """F02: the endpoint drops while listing type b: c and d are not tried, a's listing is not committed."""
        cloud = Cloud(drop_at="b")
        result = source_run(store, clock, cloud)
        assert cloud.listed == ["a", "b"]
        assert result.status == "failed" and result.failure == "unreachable"
        assert [(t.entity_type, t.status) for t in result.types] == [
            ("a", "complete"), ("b", "incomplete"), ("c", "not_tried"), ("d", "not_tried")]
        assert store.counts("src") == {}

    def test_a_good_run_after_a_failure_lists_everything(self, store: Store, clock: Any) -> None:
        """The next run with working credentials lists and commits every type."""
        source_run(store, clock, Cloud(login=AuthenticationFailed("rejected")))
        result = source_run(store, clock, Cloud())
        assert result.status == "ok"
        assert result.count("created") == 4
