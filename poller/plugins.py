"""Finding collector plugins: entry points in the group ``poller.collectors``.

Plugins load lazily, are checked with ``issubclass``, and a missing or broken one
fails with one sentence naming it. Nothing is registered at import time.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import EntryPoint, entry_points

from collectors.base import Collector
from collectors.errors import PluginError

GROUP = "poller.collectors"

# Used only when the package metadata is absent (running from a source checkout).
_BUILTIN = {
    "noop": "collectors.noop:NoopCollector",
    "static": "collectors.static:StaticCollector",
    "openstack": "collectors.openstack.collector:OpenStackCollector",
    "cloudstack": "collectors.cloudstack.collector:CloudStackCollector",
    "libvirt": "collectors.libvirt.collector:LibvirtCollector",
}


def available() -> dict[str, str]:
    """Installed collector names -> "module:Class" they point at."""
    found = {name: target for name, target in _BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.value
    return dict(sorted(found.items()))


def load(name: str) -> type[Collector]:
    """The Collector class registered as ``name``; PluginError if unknown or broken."""
    targets = available()
    if name not in targets:
        raise PluginError(f"unknown collector {name!r} (installed: {', '.join(targets)})")
    target = targets[name]
    try:
        matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
        obj = matches[0].load() if matches else _load_target(target)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        extra = f" (missing module {missing!r}; is its extra installed?)" if missing else ""
        raise PluginError(f"collector plugin {name!r} ({target}) cannot be imported{extra}") from exc
    except Exception as exc:
        raise PluginError(f"collector plugin {name!r} ({target}) failed to load: {type(exc).__name__}") from exc
    if not (isinstance(obj, type) and issubclass(obj, Collector)):
        raise PluginError(f"collector plugin {name!r} ({target}) is not a subclass of collectors.base.Collector")
    return obj


def _load_target(target: str) -> object:
    return EntryPoint(name="", value=target, group=GROUP).load() if ":" in target else import_module(target)
