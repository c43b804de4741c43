"""Finding collector plugins: entry points in the group ``poller.collectors``, or a class path.

A source's ``collector`` is an installed entry-point name (``openstack``) or, when it is
not one and holds a colon or a dot, a class path (``my_package.my_module:MyCollector`` or
``my_package.my_module.MyCollector``). Either way the class loads lazily, is checked with
``issubclass``, and a missing or broken one fails with one sentence naming it. Nothing is
registered at import time.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import Any

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
    "nagios": "collectors.nagios.collector:NagiosCollector",
}


def available() -> dict[str, str]:
    """Installed collector names -> "module:Class" they point at."""
    found = {name: target for name, target in _BUILTIN.items()}
    for ep in _group():
        found[ep.name] = ep.value
    return dict(sorted(found.items()))


def is_class_path(name: str) -> bool:
    """Whether ``name`` is read as a class path: it has a colon or a dot and is not an installed name."""
    return (":" in name or "." in name) and name not in available()


def class_paths(names: Iterable[str]) -> dict[str, str]:
    """The class-path collectors among ``names`` (a configuration's), each -> its "module:Class" target."""
    return {name: _target(name) for name in sorted(set(names)) if is_class_path(name)}


def load(name: str) -> type[Collector]:
    """The Collector class registered as (or at the class path) ``name``; PluginError if unknown or broken."""
    targets = available()
    if name in targets:
        return _load(name, targets[name])
    if is_class_path(name):
        return _load(name, _target(name))
    raise PluginError(f"unknown collector {name!r} (installed: {', '.join(targets)}; "
                      "or name a class as 'package.module:Class')")


def _target(name: str) -> str:
    """``module:Class`` for a class path written with a colon or with a final dot."""
    if ":" in name:
        return name
    module, _, attr = name.rpartition(".")
    return f"{module}:{attr}"


def _load(name: str, target: str) -> type[Collector]:
    module_name, _, attr = target.partition(":")
    shown = repr(name) if name == target else f"{name!r} ({target})"
    parts = [*module_name.split("."), *attr.split(".")]
    if not module_name or not attr or not all(part.isidentifier() for part in parts):
        raise PluginError(f"collector plugin {shown} is not a valid class path (write 'package.module:Class')")
    try:
        entry_point = _entry_point(name)
        obj = entry_point.load() if entry_point is not None else import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing and (missing == module_name or module_name.startswith(missing + ".")):
            raise PluginError(f"collector plugin {shown} cannot be imported: no module named {missing!r}") from exc
        extra = f" (missing module {missing!r}; is its extra installed?)" if missing else ""
        raise PluginError(f"collector plugin {shown} cannot be imported{extra}") from exc
    except Exception as exc:
        raise PluginError(f"collector plugin {shown} failed to load: {type(exc).__name__}") from exc
    if entry_point is None:
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise PluginError(f"collector plugin {shown}: module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Collector)):
        raise PluginError(f"collector plugin {shown} is not a subclass of collectors.base.Collector")
    return obj


def _entry_point(name: str) -> EntryPoint | None:
    """The installed entry point called ``name``, or None when there is none."""
    matches = [ep for ep in _group() if ep.name == name]
    return matches[0] if matches else None


def _group() -> tuple[EntryPoint, ...]:
    """The installed entry points of GROUP, read once per import path (sys.path)."""
    return _entry_points_on(tuple(sys.path))


@functools.lru_cache(maxsize=8)
def _entry_points_on(path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    # Reading every distribution's metadata costs ~30 ms, and a run asked four times (checking
    # then building each source's collector). Keyed by the import path: a directory added to
    # sys.path (a plugin installed beside) is read again.
    return tuple(entry_points(group=GROUP))


def listing(extra: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every installed collector (and the ``extra`` name -> target ones, e.g. configured class paths)
    for ``poller collectors``: name, plugin target, entity types, whether types come from its
    inventory, and why it cannot be loaded (None when it can)."""
    records = []
    for name, target in {**available(), **(extra or {})}.items():
        record: dict[str, Any] = {"collector": name, "plugin": target, "entity_types": [], "dynamic_types": False, "error": None}
        try:
            cls = load(name)
        except PluginError as exc:
            record["error"] = str(exc)
        else:
            record["entity_types"] = [t.name for t in cls.entity_types]
            record["dynamic_types"] = bool(cls.dynamic_types)
        records.append(record)
    return records
