"""An enormous entity: hashed and stored whole, announced within the notification size limit (B08)."""

from __future__ import annotations

from typing import Any

from baseline.store import Store
from tests.poller.helpers import run, vm

BIG = "u" * 10_000_000  # 10 MB of user data
TAGS = [f"tag-{i}" for i in range(50_000)]
LIMIT = 1_048_576


class TestEnormousEntity:
    def test_B08_create_and_update_stay_under_the_limit_and_the_change_is_seen(self, store: Store, clock: Any) -> None:
        """B08: a 10 MB user_data and 50,000 tags: the create and the later update are notifications under
        1 MiB naming the omitted size and where to read it; the baseline keeps the whole entity."""
        _, created = run(store, [vm("big", user_data=BIG, tags=TAGS)], clock)
        _, updated = run(store, [vm("big", user_data=BIG + "x", tags=TAGS)], clock)
        _, idle = run(store, [vm("big", user_data=BIG + "x", tags=TAGS)], clock)
        bodies = [row.body for row in store.history()]
        assert all(len(body) <= LIMIT for body in bodies)
        assert created[0]["entity"] is None and created[0]["entity_omitted"]["bytes"] > 10_000_000
        assert created[0]["entity_omitted"]["read"] == "poller show vm/big --source src"
        change = updated[0]["changes"][0]
        assert change["path"] == "/user_data" and change["old"] is None and change["new_omitted_bytes"] > 10_000_000
        assert idle == []
        stored = store.find_entity("vm", "big", "src")[0]
        assert stored.payload is not None and len(stored.payload) > 10_000_000

    def test_B08_small_entities_are_untouched(self, store: Store, clock: Any) -> None:
        """B08: an ordinary entity is announced whole, with no entity_omitted member."""
        _, notes = run(store, [vm("a", size=1)], clock)
        assert notes[0]["entity"] == {"id": "a", "size": 1} and "entity_omitted" not in notes[0]
