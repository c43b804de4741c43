"""The collector plugin contract: Entity, EntityType, Listing and Collector.

A collector turns one cloud API into streams of entities, one Listing per entity
type. It never imports ``baseline/`` or ``poller/``, never touches a database, and
lets only ``collectors.errors`` exceptions escape.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from collectors.errors import CollectorError, ListingIncomplete, OptionError, TypeUnavailable

# A page decoder: (data, context) -> the page's items; see RawPage.
Decoder = Callable[[bytes, Any], Iterable["Entity | Gone"]]
# A record splitter: (data, context) -> the page's raw records, one byte string per candidate
# entity (byte-identical while the record and everything else its entity depends on are), and
# where each is (for error messages); None when the page is not of the shape it reads (the page
# is then decoded whole).
Splitter = Callable[[bytes, Any], "tuple[list[bytes], list[Any]] | None"]
# A record parser: (records, wheres, context) -> (position in records, item) for each record
# that is an item of the listing, in order.
RecordParser = Callable[[list[bytes], list[Any], Any], list[tuple[int, "Entity | Gone"]]]


@dataclass(frozen=True, slots=True)
class ParentRef:
    """Points at another entity of the same source: its type and key."""

    type: str
    key: str


@dataclass(frozen=True, slots=True)
class Entity:
    """One thing in a cloud, as a collector saw it.

    ``attributes`` is the JSON-able payload that is hashed (with ``name``, ``parent``,
    ``state`` and ``project``); ``updated_at`` is the source's own timestamp, kept for
    information and never hashed.
    """

    type: str
    key: str
    name: str | None = None
    parent: ParentRef | None = None
    state: str | None = None
    project: str | None = None
    updated_at: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Gone:
    """In a delta listing: the API says the entity with this key no longer exists."""

    type: str
    key: str


@dataclass(frozen=True)
class EntityType:
    """What a collector declares about one type of entity.

    ``volatile`` lists JSON-pointer patterns into ``attributes`` (``*`` matches one
    segment) that change without anyone changing the entity (usage counters,
    heartbeats); they are ignored when hashing unless a source un-ignores them.
    ``sets`` lists patterns of lists whose order the API does not keep; they are
    sorted before hashing. ``fingerprint`` names how the type is listed (an API
    microversion, a mapping version): when it changes, the baseline is re-hashed
    from stored payloads instead of flooding consumers with updates.
    """

    name: str
    parent: str | None = None
    volatile: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    fingerprint: str = ""
    description: str = ""


@dataclass(frozen=True)
class ListContext:
    """What the poller tells a collector about earlier listings of one type.

    ``last_listed_at`` is when the previous complete listing (full or delta) of
    this type started, ``last_full_at`` when the previous complete full listing
    started, ``listings_since_full`` how many delta listings followed it; all are
    ``None``/0 when the type was never listed. A collector may answer with a
    delta listing only when ``last_listed_at`` is set.
    """

    now: datetime
    last_listed_at: datetime | None = None
    last_full_at: datetime | None = None
    listings_since_full: int = 0


@dataclass(frozen=True, slots=True)
class RawPage:
    """Part of a listing as the API or the file gave it, turned into entities later, possibly
    in a worker process (the poller's hash pool), so parsing runs on every core.

    ``decode(data, context)`` is a module-level function (pickled by reference) returning the
    page's Entities (and, in a delta listing, Gone markers). It is pure: it reads nothing but
    ``data`` and ``context`` (and, for a file, the byte range ``context`` names), writes no
    global state and logs nothing; it raises a CollectorError (ListingIncomplete naming the
    page or line) when the page cannot be read. ``data`` and ``context`` must be picklable.
    A listing may mix RawPages and Entities; built-in collectors yield RawPages, the
    third-party contract (yield Entities) is unchanged.

    A page made of one raw record per entity (a JSON line, a record of an API page) may also
    give ``split`` and ``parse`` (module-level and pure like ``decode``): the poller then hashes
    each record's bytes first and parses only the records it has not seen byte for byte under
    the same hashing rules; ``decode`` must equal ``parse`` applied to ``split``. A record's
    bytes must then determine its entity: what else the mapping reads (a hypervisor id looked
    up by hostname, the mapping's own version) is appended to them by ``split``.
    """

    decode: Decoder
    data: bytes = b""
    context: Any = None
    split: Splitter | None = None
    parse: RecordParser | None = None

    def entities(self) -> Iterable[Entity | Gone]:
        """Decode the page here, in this process."""
        return self.decode(self.data, self.context)


Item = Entity | Gone
# A listing generator yields entities (and, in delta mode, Gone markers) and may
# return the total number of entities the API reported, which is then checked.
ListingGenerator = Generator["Item | RawPage", None, "int | None"]


class Listing:
    """The stream of one entity type from one source, and whether it was whole.

    Iterate it once. ``complete`` is True only when the collector's generator ran to
    its end without raising; a CollectorError (or any bug in a plugin) raised midway
    ends the iteration and is kept in ``error``, and a TypeUnavailable is kept in
    ``unavailable`` (the type is skipped, which is not a failure). ``total`` is the
    count the API reported, if the generator returned one. A ``delta`` listing holds
    only what changed since the previous listing: absence deletes nothing, ``Gone``
    items do.
    """

    def __init__(self, entity_type: str, items: Iterator[Item | RawPage] | ListingGenerator, *, delta: bool = False) -> None:
        self.entity_type = entity_type
        self.delta = delta
        self.complete = False
        self.error: CollectorError | None = None
        self.unavailable: TypeUnavailable | None = None
        self.total: int | None = None
        # How many items the collector expects to yield, when it knows before listing (a progress total).
        self.expected: int | None = None
        self._items = items
        self._consumed = False

    def __iter__(self) -> Iterator[Item | RawPage]:
        if self._consumed:
            raise RuntimeError("a Listing can be iterated only once")
        self._consumed = True
        try:
            returned = yield from self._items
        except TypeUnavailable as exc:
            self.unavailable = exc
            return
        except CollectorError as exc:
            self.error = exc
            return
        except Exception as exc:  # a plugin bug must not take the run down
            self.error = ListingIncomplete(f"collector raised {type(exc).__name__} while listing {self.entity_type}")
            self.error.__cause__ = exc
            return
        if isinstance(returned, int) and not isinstance(returned, bool):
            self.total = returned
        self.complete = True

    def entities(self) -> Iterator[Item]:
        """Iterate the listing with its RawPages decoded here, in this process (for tools and tests;
        the poller hashes pages in its workers instead). A page that cannot be decoded fails it."""
        for item in self:
            if type(item) is not RawPage:
                yield item
                continue
            try:
                yield from item.entities()
            except CollectorError as exc:
                self.fail(exc)
                return

    def fail(self, error: CollectorError) -> None:
        """Mark the listing incomplete (used by consumers that find it inconsistent)."""
        self.error = error
        self.complete = False


class Collector:
    """Base class of every collector plugin; third parties subclass it.

    A subclass sets ``name`` and ``entity_types``; its constructor validates
    ``options`` (raising OptionError naming the field) and does no network I/O.
    ``connect`` is called once per run before any type is listed: it authenticates or
    probes the connection and raises SourceFailed (AuthenticationFailed,
    SourceUnreachable) when the whole source cannot be listed, so a rejected login or
    an unreachable endpoint costs one attempt per run, not one per type.
    ``list`` returns one Listing per type. ``fetch`` re-reads one entity (None when
    the API says it is gone) and ``translate_event`` maps a provider event to the
    (type, key) pairs it names; both are optional.
    """

    name: ClassVar[str] = ""
    entity_types: ClassVar[Sequence[EntityType]] = ()
    # True when list() accepts any type name (static inventories): types that only
    # the baseline still knows are then listed too, so their entities can be deleted.
    dynamic_types: ClassVar[bool] = False

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        self.source = source
        self.options = dict(options)

    def connect(self) -> None:
        """Authenticate or probe the connection once; SourceFailed when the source cannot be listed.

        Bounded by the collector's own timeout (not timeout x retries x types). The
        default does nothing: a collector without a remote end cannot fail as a whole.
        """

    def discover_types(self) -> Sequence[EntityType]:
        """The entity types this source offers now (the declared ones unless overridden)."""
        return tuple(self.entity_types)

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """Return the Listing of one of this collector's entity types."""
        raise NotImplementedError

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        """Re-read one entity; None when the API says it no longer exists."""
        raise TypeUnavailable(f"collector {self.name} cannot fetch single entities")

    def translate_event(self, event: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Map a provider event to the (entity type, key) pairs it is about."""
        return []

    def warnings(self) -> list[str]:
        """Conditions worth a warning on every run (e.g. TLS verification off)."""
        return []

    def preflight(self) -> list[str]:
        """Problems ``poller check-config`` can see without the network (a missing local file);
        each names ``sources.<name>.options.<field>``. At run time they fail the listing instead."""
        return []

    def close(self) -> None:
        """Release clients and connections; the collector is not used afterwards."""

    def entity_type(self, name: str) -> EntityType:
        """The declared EntityType called ``name``; KeyError when not declared."""
        for etype in self.entity_types:
            if etype.name == name:
                return etype
        raise KeyError(name)

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def require_option(source: str, options: Mapping[str, Any], field_name: str, kind: type | tuple[type, ...]) -> Any:
    """Return ``options[field_name]``, raising OptionError if absent or of the wrong kind."""
    if field_name not in options or options[field_name] is None:
        raise OptionError(source, field_name, "is required")
    value = options[field_name]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        raise OptionError(source, field_name, f"must be {_kind_name(kind)}")
    return value


def optional_option(source: str, options: Mapping[str, Any], field_name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """Return ``options[field_name]`` or ``default``, raising OptionError on the wrong kind."""
    if options.get(field_name) is None:
        return default
    return require_option(source, options, field_name, kind)


def reject_unknown_options(source: str, options: Mapping[str, Any], known: Sequence[str]) -> None:
    """Raise OptionError naming the first option that the collector does not know."""
    for name in options:
        if name not in known:
            raise OptionError(source, str(name), f"unknown option (known: {', '.join(sorted(known))})")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))
