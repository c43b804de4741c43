"""The ``static`` collector (after Rally's DummyProvider): entities from configuration.

Reads ``options.path`` (YAML, JSON or JSON Lines, by extension; JSON Lines streams
one entity per line) or ``options.entities`` inline. A bad file, line or entity makes
the listing incomplete with an error naming the file and line; it never guesses.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from collectors.base import (
    Collector,
    Entity,
    EntityType,
    ListContext,
    Listing,
    ParentRef,
    RawPage,
    optional_option,
    reject_unknown_options,
)
from collectors.errors import ListingIncomplete, OptionError

_FIELDS = ("type", "key", "name", "parent", "state", "project", "updated_at", "attributes")
_ALLOWED = frozenset(_FIELDS)
_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class StaticCollector(Collector):
    """Entities from a file or from the source's options; any type name is accepted.

    Options: ``path`` or ``entities`` (exactly one), and ``types``: the entity types
    with optional ``volatile``/``sets``/``parent`` declarations. Without ``types``
    the types are discovered by reading the inventory once per run.
    """

    name = "static"
    entity_types = ()
    dynamic_types = True

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        reject_unknown_options(source, options, ("path", "entities", "types"))
        self.path: Path | None = None
        self.inline: list[Any] | None = None
        path = optional_option(source, options, "path", str, None)
        entities = optional_option(source, options, "entities", list, None)
        if (path is None) == (entities is None):
            raise OptionError(source, "path", "set exactly one of options.path and options.entities")
        if path is not None:
            self.path = Path(path).expanduser()
            if self.path.suffix.lower() not in _SUFFIXES:
                raise OptionError(source, "path", f"{path}: use a .yaml, .yml, .json or .jsonl file")
        else:
            self.inline = entities
        self.declared = _declared_types(source, options.get("types"))

    def preflight(self) -> list[str]:
        """The inventory file must exist, be a file and be readable by this user."""
        if self.path is None:
            return []
        where = f"sources.{self.source}.options.path"
        if not self.path.exists():
            return [f"{where}: {self.path}: no such file"]
        if not self.path.is_file():
            return [f"{where}: {self.path}: not a regular file"]
        try:
            with self.path.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            return [f"{where}: {self.path}: cannot read ({exc.strerror})"]
        return []

    def discover_types(self) -> tuple[EntityType, ...]:
        """The declared types, else every type found in the inventory (for JSON Lines, from
        each line's leading ``{"type": …`` where it has one: no second parse of the file)."""
        if self.declared:
            return self.declared
        names: dict[str, None] = {}
        if self.path is not None and _SUFFIXES[self.path.suffix.lower()] == "jsonl":
            for name in _jsonl_types(self.path):
                names.setdefault(name, None)
            return tuple(EntityType(n) for n in names)
        for item in self._records(strict=False):
            if isinstance(item, tuple):
                names.setdefault(item[1].type, None)
        return tuple(EntityType(n) for n in names)

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """Every entity of ``etype`` in the inventory; incomplete at the first bad record."""
        if self.path is not None and _SUFFIXES[self.path.suffix.lower()] == "jsonl":
            return Listing(etype.name, self._jsonl_of_type(self.path, etype.name))
        listing = Listing(etype.name, self._of_type(etype.name))
        if self.inline is not None:  # known before listing: a progress total
            listing.expected = sum(1 for e in self.inline if isinstance(e, dict) and e.get("type") == etype.name)
        return listing

    # A JSON Lines file is read in pages of this many bytes, each decoded (in a hash worker) on its own.
    page_bytes = 4 * 1024 * 1024

    def _jsonl_of_type(self, path: Path, type_name: str) -> Iterator[Entity | RawPage]:
        """The JSON Lines path: one RawPage per byte range of the file, read and parsed where it is
        hashed; a named pipe (not seekable) is streamed here, once."""
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ListingIncomplete(f"{path}: cannot open ({exc.strerror})") from None
        with handle:
            before = _identity(handle)
            if before is None:
                yield from _stream_jsonl(path, handle, type_name)
                return
            size = before[1]
            for start in range(0, size, self.page_bytes):
                where = _Range(str(path), handle.fileno(), before, start, min(start + self.page_bytes, size), type_name)
                yield RawPage(read_jsonl_range, b"", where, split_jsonl_range, parse_jsonl_records)
            _check_whole(path, handle, before)

    def _of_type(self, type_name: str) -> Iterator[Entity]:
        for item in self._records(strict=True):
            if isinstance(item, tuple) and item[1].type == type_name:
                yield item[1]

    def _records(self, *, strict: bool) -> Iterator[tuple[str, Entity] | None]:
        """(location, entity) per record; on a bad record raise (strict) or yield None."""
        for where, raw in self._raw():
            try:
                yield where, entity_from_record(raw)
            except ValueError as exc:
                if strict:
                    raise ListingIncomplete(f"{where}: {exc}") from None
                yield None

    def _raw(self) -> Iterator[tuple[str, Any]]:
        if self.inline is not None:
            for index, raw in enumerate(self.inline):
                yield f"sources.{self.source}.options.entities[{index}]", raw
            return
        assert self.path is not None
        kind = _SUFFIXES[self.path.suffix.lower()]
        if kind == "jsonl":
            yield from self._jsonl(self.path)
        else:
            yield from self._document(self.path, kind)

    def _jsonl(self, path: Path) -> Iterator[tuple[str, Any]]:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ListingIncomplete(f"{path}: cannot open ({exc.strerror})") from None
        with handle:
            before = _identity(handle)
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    raw = orjson.loads(line) if not _may_hold_huge_int(line) else _exact_loads(line)
                except orjson.JSONDecodeError as exc:
                    problem = "not UTF-8" if "utf-8" in str(exc).lower() else "not valid JSON"
                    raise ListingIncomplete(f"{path}:{number}: {problem}") from None
                yield f"{path}:{number}", raw
            _check_whole(path, handle, before)

    def _document(self, path: Path, kind: str) -> Iterator[tuple[str, Any]]:
        try:
            with path.open("rb") as handle:
                before = _identity(handle)
                data = handle.read()
                _check_whole(path, handle, before)
        except OSError as exc:
            raise ListingIncomplete(f"{path}: cannot read ({exc.strerror})") from None
        if kind == "json":
            try:
                doc = orjson.loads(data) if not _may_hold_huge_int(data) else _exact_loads(data)
            except orjson.JSONDecodeError as exc:
                raise ListingIncomplete(f"{path}:{getattr(exc, 'lineno', '?')}: not valid JSON") from None
            lines: list[int | None] = []
        else:
            doc, lines = _load_yaml(path, data)
        if not isinstance(doc, dict) or not isinstance(doc.get("entities"), list):
            raise ListingIncomplete(f"{path}: expected a mapping with an 'entities' list")
        for index, raw in enumerate(doc["entities"]):
            line = lines[index] if index < len(lines) else None
            yield (f"{path}:{line}" if line else f"{path}: entities[{index}]"), raw


@dataclass(frozen=True, slots=True)
class _Range:
    """Which bytes of which open file one page of a JSON Lines listing is (the lines starting in
    ``[start, end)``), and the file's identity when the listing opened it."""

    path: str
    fd: int
    identity: tuple[int, int, int]
    start: int
    end: int
    type_name: str


_TYPE_PREFIX = b'{"type":"'


def _leading_type(line: bytes) -> bytes | None:
    """The type of a record written with ``type`` first (``{"type":"…"``), without parsing it;
    None when the line does not start so (or the name holds an escape)."""
    if not line.startswith(_TYPE_PREFIX):
        return None
    end = line.find(b'"', 9)
    if end < 0 or b"\\" in line[9:end]:
        return None
    return line[9:end]


def read_jsonl_range(data: bytes, where: _Range) -> list[Entity]:
    """The entities of type ``where.type_name`` on the lines that start inside ``where``'s byte range."""
    records, offsets = split_jsonl_range(data, where)
    return [entity for _, entity in parse_jsonl_records(records, offsets, where)]


def split_jsonl_range(data: bytes, where: _Range) -> tuple[list[bytes], list[int]]:
    """The lines that start inside ``where``'s byte range and may hold a ``where.type_name`` entity
    (lines of other types written with ``type`` first, and blank lines, are left out unparsed),
    with the number of each among the range's lines (for error messages).

    Reads the file through the descriptor the listing opened (a worker inherits it), so a file
    renamed over meanwhile is still read whole; a file written to in place is a torn read
    (ListingIncomplete).
    """
    lines = _range_lines(where)
    wanted = where.type_name.encode("utf-8")
    prefix = _TYPE_PREFIX + wanted + b'"'
    if all(line.startswith(prefix) for line in lines):  # the usual page: one type, written type first
        return lines, list(range(len(lines)))
    records: list[bytes] = []
    numbers: list[int] = []
    for number, line in enumerate(lines):
        leading = _leading_type(line)
        if leading is not None:
            if leading != wanted:
                continue
        elif not line.strip():
            continue
        records.append(line)
        numbers.append(number)
    return records, numbers


def _range_lines(where: _Range) -> list[bytes]:
    """The lines (without their newline) that start inside ``where``'s byte range, read whole."""
    fd = _same_file(where)
    try:
        lines = _read_lines(fd, where.start, where.end)
        if _fstat_identity(fd) != where.identity:
            raise ListingIncomplete(f"{where.path}: changed while it was being read (write the new inventory to "
                                    "a temporary file and rename it into place)")
    finally:
        if fd != where.fd:
            os.close(fd)
    return lines


def parse_jsonl_records(records: list[bytes], numbers: list[int], where: _Range) -> list[tuple[int, Entity]]:
    """(position, entity) for each record that is a ``where.type_name`` entity; ListingIncomplete
    naming the file and line of the first that is not valid."""
    out = []
    for position, line in enumerate(records):
        try:
            entity = _line_entity(line)
        except ValueError as exc:
            raise ListingIncomplete(f"{where.path}:{_line_number(where, numbers[position])}: {exc}") from None
        if entity.type == where.type_name:
            out.append((position, entity))
    return out


def _line_entity(line: bytes) -> Entity:
    """The entity one JSON line describes; ValueError naming the problem (not UTF-8, not valid JSON, a bad field)."""
    try:
        raw = orjson.loads(line) if not _may_hold_huge_int(line) else _exact_loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError("not UTF-8" if "utf-8" in str(exc).lower() else "not valid JSON") from None
    return entity_from_record(raw)


def _same_file(where: _Range) -> int:
    """A descriptor of the file the listing opened: the inherited one, else the path (if unchanged)."""
    try:
        if _fstat_identity(where.fd) == where.identity:
            return where.fd
    except OSError:
        pass
    try:
        fd = os.open(where.path, os.O_RDONLY)
    except OSError as exc:
        raise ListingIncomplete(f"{where.path}: cannot open ({exc.strerror})") from None
    if _fstat_identity(fd) != where.identity:
        os.close(fd)
        raise ListingIncomplete(f"{where.path}: changed while it was being read (write the new inventory to "
                                "a temporary file and rename it into place)")
    return fd


def _fstat_identity(fd: int) -> tuple[int, int, int]:
    info = os.fstat(fd)
    return info.st_ino, info.st_size, info.st_mtime_ns


def _read_lines(fd: int, start: int, end: int) -> list[bytes]:
    """The whole lines (without their newline) that start in ``[start, end)``."""
    data = os.pread(fd, end - start, start)
    lines = data.split(b"\n")
    if start > 0 and os.pread(fd, 1, start - 1) != b"\n":
        del lines[0]  # the previous range's last line
        if not lines:
            return []
    if data.endswith(b"\n"):
        lines.pop()  # the empty string after the last newline
    elif lines:
        more, at = [lines[-1]], end
        while True:  # finish the line that starts in this range
            piece = os.pread(fd, 65536, at)
            if not piece:
                break
            newline = piece.find(b"\n")
            if newline >= 0:
                more.append(piece[:newline])
                break
            more.append(piece)
            at += len(piece)
        lines[-1] = b"".join(more)
    return lines


def _line_number(where: _Range, number: int) -> int:
    """The 1-based line number in the file of the range's ``number``-th line (counted only when an
    error names it)."""
    count, at = 0, 0
    with open(where.path, "rb") as handle:  # noqa: PTH123 - read where the error is
        while at < where.start:
            block = handle.read(min(1 << 20, where.start - at))
            if not block:
                break
            count += block.count(b"\n")
            at += len(block)
        if where.start > 0:
            handle.seek(where.start - 1)
            if handle.read(1) != b"\n":
                count += 1  # the range's first line is the one after the line it starts inside
    return count + number + 1


def _stream_jsonl(path: Path, handle: Any, type_name: str) -> Iterator[Entity]:
    """A JSON Lines stream that cannot be paged (a named pipe), parsed here line by line."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            entity = _line_entity(line)
        except ValueError as exc:
            raise ListingIncomplete(f"{path}:{number}: {exc}") from None
        if entity.type == type_name:
            yield entity


def _jsonl_types(path: Path) -> Iterator[str]:
    """The type of every record in a JSON Lines file: read from a leading ``{"type":"…"`` where the
    line has one, parsed otherwise; unreadable lines are left to the listing to report."""
    try:
        handle = path.open("rb")
    except OSError:
        return
    with handle:
        for line in handle:
            leading = _leading_type(line)
            if leading is not None:
                yield leading.decode("utf-8", "replace")
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if type(raw) is dict and type(raw.get("type")) is str and raw["type"]:
                yield raw["type"]


# 2**64 has 20 digits: shorter integers parse exactly with orjson. In a line's shape, digits are
# "1", the characters a JSON number may follow ("-" included) are "S", everything else is "0".
_NUMBER_SHAPE = bytes(49 if 48 <= b <= 57 else 83 if b in b":,[- \t\r\n" else 48 for b in range(256))
_HUGE_NUMBER = b"S" + b"1" * 20


def _may_hold_huge_int(data: bytes) -> bool:
    """B04: orjson turns integers beyond 64 bits into floats (losing exactness, so a change
    between two of them would be missed); spot a JSON number of 20+ digits cheaply (one
    translate and one find: a character a number can follow, then 20 digits; a string may
    match too, which only costs an exact parse) so only such rare lines are parsed again exactly."""
    return _HUGE_NUMBER in data.translate(_NUMBER_SHAPE)


def _exact_loads(data: bytes) -> Any:
    """Parse with the standard library, which keeps integers of any size exact (same errors as orjson's)."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise orjson.JSONDecodeError(str(exc), "", 0) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _identity(handle: Any) -> tuple[int, int, int] | None:
    """What changes when the open file is written to: (inode, size, modification time in ns);
    None for what is not a regular file (a named pipe is read as a stream, once)."""
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _check_whole(path: Path, handle: Any, before: tuple[int, int, int] | None) -> None:
    """A torn read deletes nothing: the open file must not have changed while it was read. A file
    replaced by rename meanwhile is fine (the open file is the old one, whole); rewriting it in
    place is what this catches (a line cut in the middle is already invalid JSON)."""
    if before is not None and _identity(handle) != before:
        raise ListingIncomplete(f"{path}: changed while it was being read (write the new inventory to a "
                                "temporary file and rename it into place)")


def _load_yaml(path: Path, data: bytes) -> tuple[Any, list[int | None]]:
    try:
        text = data.decode("utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise ListingIncomplete(f"{path}: not UTF-8 (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ListingIncomplete(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML") from None
    lines: list[int | None] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "entities" and isinstance(value_node, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value_node.value]
    return doc, lines


def entity_from_record(raw: Any) -> Entity:
    """The Entity a static record describes; ValueError naming the problem otherwise."""
    if type(raw) is not dict:
        raise ValueError("an entity must be a mapping")
    if not _ALLOWED.issuperset(raw):
        unknown = next(f for f in raw if f not in _ALLOWED)
        raise ValueError(f"unknown field {unknown!r} (allowed: {', '.join(_FIELDS)})")
    etype = raw.get("type")
    if type(etype) is not str or not etype:
        raise ValueError("missing required field 'type'")
    key = raw.get("key")
    if type(key) is not str:
        key = str(key) if type(key) is int else None
    if not key:
        raise ValueError("missing required field 'key'")
    attributes = raw.get("attributes")
    if attributes is None:
        attributes = {}
    elif type(attributes) is not dict:
        raise ValueError(f"entity {key}: 'attributes' must be a mapping")
    name, state, project = raw.get("name"), raw.get("state"), raw.get("project")
    return Entity(
        type=etype,
        key=key,
        name=name if type(name) is str and name else _optional_text(raw, "name", key),
        parent=_parent(raw.get("parent"), key),
        state=state if type(state) is str and state else _optional_text(raw, "state", key),
        project=project if type(project) is str and project else _optional_text(raw, "project", key),
        updated_at=_optional_text(raw, "updated_at", key),
        attributes=attributes,
    )


def _optional_text(raw: Mapping[str, Any], field: str, key: str) -> str | None:
    value = raw.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"entity {key}: {field!r} must be a string")
    return value


def _parent(value: Any, key: str) -> ParentRef | None:
    if value is None:
        return None
    if type(value) is dict and len(value) == 2 and type(value.get("type")) is str and type(value.get("key")) is str and value["key"]:
        return ParentRef(value["type"], value["key"])
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or value.get("key") in (None, ""):
        raise ValueError(f"entity {key}: 'parent' must be a mapping with 'type' and 'key'")
    return ParentRef(value["type"], str(value["key"]))


def _declared_types(source: str, raw: Any) -> tuple[EntityType, ...]:
    if raw is None:
        return ()
    if isinstance(raw, list):
        raw = {name: {} for name in raw}
    if not isinstance(raw, dict):
        raise OptionError(source, "types", "must be a list of type names or a mapping of type -> declarations")
    out = []
    for name, spec in raw.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise OptionError(source, f"types.{name}", "must be a mapping (volatile, sets, parent)")
        for field in spec:
            if field not in ("volatile", "sets", "parent"):
                raise OptionError(source, f"types.{name}.{field}", "unknown (allowed: volatile, sets, parent)")
        out.append(
            EntityType(
                str(name),
                parent=spec.get("parent"),
                volatile=tuple(spec.get("volatile") or ()),
                sets=tuple(spec.get("sets") or ()),
            )
        )
    return tuple(out)
