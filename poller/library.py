"""cloud-poller embedded in a program: a Poller object that snapshots and calls back.

For library use (as Vitrage's graph registers for change notifications): callbacks run
on a worker thread from a queue, so a slow callback never blocks polling; the durable
sinks of the configuration are fed as by the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from poller.config import Config, load_config
from poller.notify.callbacks import CallbackSink, Subscription
from poller.run.snapshot import SnapshotOutcome, build_dispatcher, open_config_store, snapshot


class Poller:
    """Runs configured sources and hands every change to subscribed callbacks.

    ``config`` is a validated Config or the path of a poller.yaml.
    """

    def __init__(self, config: Config | str) -> None:
        self.config = load_config(config) if isinstance(config, str) else config
        self.store = open_config_store(self.config)
        self.callbacks = CallbackSink("subscribers", {})
        self.dispatcher = build_dispatcher(self.config, self.store, include_stdout=False)
        self.dispatcher.add_sink(self.callbacks)  # type: ignore[arg-type]

    def subscribe(self, entity_types: str | Iterable[str] | None, callback: Callable[[dict[str, Any]], Any]) -> Subscription:
        """Call ``callback(notification)`` for every change of these entity types (None: all), and for the
        ``baseline_initialized`` marker of a silent first load of one of them (check ``notification["action"]``)."""
        return self.callbacks.subscribe(entity_types, callback)

    register = subscribe  # the name DESIGN.md uses

    def snapshot(self, sources: Sequence[str] = (), *, allow_mass_delete: bool = False) -> SnapshotOutcome:
        """Run the sources once (all enabled ones by default); callbacks follow on their thread."""
        return snapshot(self.config, self.store, sources, allow_mass_delete=allow_mass_delete, dispatcher=self.dispatcher)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued notification has been handed to the callbacks."""
        return self.callbacks.wait_idle(timeout)

    def close(self) -> None:
        """Drain callbacks (bounded), close sinks and the store."""
        self.dispatcher.close()
        self.store.close()

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

