"""How stored payloads and notification bodies are compressed: zstd with a dictionary trained on
the entities of one type, LZ4 where there is none yet.

A 2 KB JSON document barely compresses on its own (LZ4: ~1.6x; zstd: ~2.2x): what repeats is
between documents (member names, enumerations, URL prefixes), which is what a zstd dictionary
holds. A type's first batch of at least ``MIN_SAMPLES`` documents trains one
(``zstandard.train_dictionary``, ~50 ms for a thousand documents); it is stored in
``poller_dictionaries`` in the same transaction as the blobs compressed with it, and every
zstd frame carries its dictionary's id, so any process can read any blob: ``decompress`` finds
the dictionary in this process's cache or asks the stores open in it (``add_loader``).
Dictionaries are never changed or deleted (a blob may outlive its entity in the outbox);
one that no longer fits drifting data only compresses less.

Dictionary ids are random in [2**15, 2**31) (zstd reserves the rest) and unique within a
database (checked before one is stored); the cache is keyed by id alone, so two databases open
in one process could only mix up dictionaries on a 31-bit collision.
"""

from __future__ import annotations

import random
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

import lz4.frame
import zstandard

_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

#: Fewer documents than this in a type's batch: no dictionary yet (LZ4 until a batch is large enough).
MIN_SAMPLES = 256
#: Documents a dictionary is trained on, and its size (32 KB compressed as well as 64 KB on Nova servers).
TRAIN_SAMPLES = 1000
DICTIONARY_BYTES = 32 * 1024
LEVEL = 3  # with a dictionary, level 3 costs no more than level 1 (~4 us for 2 KB) and LZ4 more


class DictionaryLoader(Protocol):
    """Something that can find a stored dictionary by id (a Store)."""

    def load_dictionary(self, dict_id: int) -> bytes | None:
        """The dictionary's bytes, or None if this database has no such dictionary."""


class UnknownDictionary(LookupError):
    """A blob names a dictionary no open database holds."""


_lock = threading.Lock()
_dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}
_loaders: weakref.WeakSet[DictionaryLoader] = weakref.WeakSet()
_local = threading.local()  # zstd (de)compressors are not thread-safe: one per thread and dictionary


def add_loader(loader: DictionaryLoader) -> None:
    """Let ``decompress`` ask ``loader`` for dictionaries it has not seen (held weakly)."""
    with _lock:
        _loaders.add(loader)


def remember(dict_id: int, data: bytes) -> zstandard.ZstdCompressionDict:
    """Cache a dictionary read from (or written to) a database."""
    with _lock:
        found = _dictionaries.get(dict_id)
        if found is None:
            found = _dictionaries[dict_id] = zstandard.ZstdCompressionDict(data)
        return found


def _dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    with _lock:
        found = _dictionaries.get(dict_id)
        loaders = list(_loaders)
    if found is not None:
        return found
    for loader in loaders:
        data = loader.load_dictionary(dict_id)
        if data is not None:
            return remember(dict_id, data)
    raise UnknownDictionary(f"compressed data names dictionary {dict_id}, which no open baseline holds")


def dictionary_bytes(dict_id: int) -> bytes:
    """The bytes of a dictionary this process knows (to hand to worker processes)."""
    return _dictionary(dict_id).as_bytes()


def train(samples: Sequence[bytes], taken: Callable[[int], bool]) -> tuple[int, bytes] | None:
    """A new dictionary trained on ``samples``: (id, bytes), its id not ``taken`` in the database;
    None when zstd finds nothing to learn (too few or too alike samples): LZ4 then."""
    rng = random.SystemRandom()
    while True:
        dict_id = rng.randrange(2**15, 2**31)
        if not taken(dict_id):
            break
    try:
        trained = zstandard.train_dictionary(DICTIONARY_BYTES, list(samples[:TRAIN_SAMPLES]), dict_id=dict_id, level=LEVEL)
    except zstandard.ZstdError:
        return None
    data = trained.as_bytes()
    remember(dict_id, data)
    return dict_id, data


def compress(data: bytes, dict_id: int | None = None) -> bytes:
    """Compress one payload or notification body: zstd with dictionary ``dict_id``, else LZ4."""
    if dict_id is None:
        return lz4.frame.compress(data)
    return _compressor(dict_id).compress(data)


def compress_many(blobs: Sequence[bytes], dict_id: int | None = None) -> list[bytes]:
    """``compress`` of each of ``blobs``, byte for byte (zstd's batch call: one compression context
    for the whole batch, ~40% less time a blob than a call each)."""
    if dict_id is None:
        return [lz4.frame.compress(b) for b in blobs]
    compressor = _compressor(dict_id)
    if blobs and all(blobs):  # the batch call takes neither an empty batch nor an empty blob
        return [segment.tobytes() for segment in compressor.multi_compress_to_buffer(list(blobs), threads=1)]
    return [compressor.compress(b) for b in blobs]


def decompress(data: bytes) -> bytes:
    """Undo ``compress``: zstd (with the dictionary its frame names), LZ4, or the zlib of early databases."""
    head = data[:4]
    if head == _ZSTD_MAGIC:
        dict_id = zstandard.get_frame_parameters(data).dict_id
        return _decompressor(dict_id).decompress(data)
    if head == _LZ4_MAGIC:
        return lz4.frame.decompress(data)
    return zlib.decompress(data)


def decompress_many(blobs: Sequence[bytes]) -> list[bytes]:
    """``decompress`` of each of ``blobs``: the zstd frames of one dictionary in one batch call
    (about half the time a blob of a call each), the others one by one."""
    out: list[bytes | None] = [None] * len(blobs)
    frames: dict[int, list[int]] = {}
    for i, blob in enumerate(blobs):
        if blob[:4] == _ZSTD_MAGIC:
            frames.setdefault(zstandard.get_frame_parameters(blob).dict_id, []).append(i)
        else:
            out[i] = decompress(blob)
    for dict_id, positions in frames.items():
        decompressor = _decompressor(dict_id)
        try:
            found = [s.tobytes() for s in decompressor.multi_decompress_to_buffer([blobs[i] for i in positions], threads=1)]
        except (ValueError, zstandard.ZstdError):  # a frame without its content size: one by one
            found = [decompressor.decompress(blobs[i]) for i in positions]
        for i, data in zip(positions, found, strict=True):
            out[i] = data
    return out  # type: ignore[return-value]


def _compressor(dict_id: int) -> zstandard.ZstdCompressor:
    cache = _local.__dict__.setdefault("compressors", {})
    found = cache.get(dict_id)
    if found is None:
        found = cache[dict_id] = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=_dictionary(dict_id), write_content_size=True, write_dict_id=True,
        )
    return found


def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    cache = _local.__dict__.setdefault("decompressors", {})
    found = cache.get(dict_id)
    if found is None:
        found = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=_dictionary(dict_id) if dict_id else None)
    return found
