"""How a user's state is laid out in DynamoDB items: a small head, immutable chunks, id segments.

Why: DynamoDB bills a write per started KB of the item written and a read per started 4 KB, and a
heavy user's 26 h history is ~20 KB. Rewriting it for every batch made an event cost up to 38 write
units. Here a batch rewrites only the **head** (aggregates, devices, countries, the entries not
sealed yet, the pending log, the directory), and everything else is written once:

* **chunks** (``<user>#h<hash>``): every :data:`CHUNK_ENTRIES` history entries are sealed into an
  immutable item named by the hash of its content. Immutable, so it is read eventually consistent
  (half price) and cached for the life of the container (:class:`ChunkCache`); named by content, so
  a writer that loses the version race can never overwrite what the winner's head points at.
  A chunk leaves the directory when all its entries are folded (its newest time is behind the
  fold front); its TTL outlives any head that can still point at it.
* **id segments** (``<user>#i<day>.<hash>``): the keys of events folded out of the history, by
  event-time day, :data:`ID_SEGMENT` at a time (or when the fold front has passed the day). They
  are read only for a batch event whose day has segments (a late event, a replay, a redelivery
  older than the history), and kept for ``state.dedupe_horizon_days``: that is the horizon of
  exact duplicate detection.

The head is written last, conditional on its version, so a reader sees either the old head (whose
chunks all exist) or the new one (whose chunks were written first).
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from risk.score.state import DAY_SECONDS, HISTORY_SECONDS, Entry, UserState, _columns, _entries

CHUNK_ENTRIES = 16  # sealed entries per chunk: 768 bytes, so the head stays near one write unit
ID_SEGMENT = 64  # folded ids per id segment (512 bytes)
_CHUNK_MAGIC = b"\x00RC3"
_IDS_MAGIC = b"\x00RI3"


class Put(NamedTuple):
    """An immutable item to write before the head."""

    key: str
    blob: bytes
    expires_at: int
    entries: list[Entry] | None = None  # a chunk's, for the container's cache


def content_hash(blob: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(blob, digest_size=4).digest(), "little")


def chunk_key(user_id: str, chunk: int) -> str:
    return f"{user_id}#h{chunk:08x}"


def ids_key(user_id: str, day: int, segment: int) -> str:
    return f"{user_id}#i{day}.{segment:08x}"


def chunk_bytes(entries: Sequence[Entry]) -> bytes:
    return b"".join([_CHUNK_MAGIC, len(entries).to_bytes(4, "little"), *_columns(entries)])


def chunk_entries(blob: bytes) -> list[Entry]:
    if blob[:4] != _CHUNK_MAGIC:
        raise ValueError("not a state chunk of format 3")
    entries, _ = _entries(blob, 8, int.from_bytes(blob[4:8], "little"))
    return entries


def ids_bytes(keys: Iterable[int]) -> bytes:
    return _IDS_MAGIC + array("Q", sorted(keys)).tobytes()


def ids_of(blob: bytes) -> list[int]:
    if blob[:4] != _IDS_MAGIC:
        raise ValueError("not a state id segment of format 3")
    col = array("Q")
    col.frombytes(blob[4:])
    return col.tolist()


def plan(state: UserState, *, ttl_days: int, horizon_days: int) -> tuple[bytes, list[Put]]:
    """The head blob to write (conditionally, last) and the immutable items to write before it.

    Updates the state's storage bookkeeping (chunk directory, id segments); if the head write then
    loses the version race, the caller reloads and recomputes, so nothing here needs undoing.
    """
    uid = state.user_id
    puts: list[Put] = []
    if state.max_ts is not None:
        oldest_day = int((state.max_ts - horizon_days * DAY_SECONDS) // DAY_SECONDS)
        for day in [d for d in state.id_days if d < oldest_day]:
            del state.id_days[day]
        for day in [d for d in state.fold_ids if d < oldest_day]:
            state.fold_set.difference_update(state.fold_ids.pop(day))
        front_day = int((state.max_ts - HISTORY_SECONDS) // DAY_SECONDS)
        for day, keys in sorted(state.fold_ids.items()):
            if len(keys) < ID_SEGMENT and day >= front_day:
                continue  # more folds will come into this day: keep buffering in the head
            blob = ids_bytes(keys)
            segment = content_hash(blob)
            puts.append(Put(ids_key(uid, day, segment), blob, int((day + 1 + horizon_days + 1) * DAY_SECONDS)))
            state.id_days.setdefault(day, []).append(segment)
            state.fold_set.difference_update(keys)
            del state.fold_ids[day]
    unsealed = [e for e in state.history if e[5] >= state.sealed_upto]
    if len(unsealed) >= CHUNK_ENTRIES:
        blob = chunk_bytes(unsealed)
        chunk = content_hash(blob)
        newest = max(e[0] for e in unsealed)
        # Outlives any head that still points at it: a live chunk's newest entry is in the history.
        expires = int(newest + HISTORY_SECONDS + (ttl_days + 1) * DAY_SECONDS)
        puts.append(Put(chunk_key(uid, chunk), blob, expires, unsealed))
        state.chunks.append((chunk, newest))
        state.sealed_upto = state.seq + 1
    if state.fold_front is not None:
        front = state.fold_front[0]
        state.chunks = [(c, newest) for c, newest in state.chunks if newest >= front]
    return state.to_bytes(chunked=True), puts


def chunk_keys(state: UserState) -> list[str]:
    return [chunk_key(state.user_id, c) for c, _ in state.chunks]


def id_keys(state: UserState, days: Iterable[int]) -> dict[str, int]:
    """Keys of the id segments of ``days`` (those the head lists), to the day each belongs to."""
    return {ids_key(state.user_id, d, seg): d for d in days for seg in state.id_days.get(d, ())}


def all_keys(state: UserState) -> list[str]:
    """Every item of a user besides the head (erasure)."""
    return chunk_keys(state) + list(id_keys(state, state.id_days))


def days_to_read(state: UserState, timestamps: Iterable[float]) -> set[int]:
    """Event-time days whose id segments a batch needs: the segments hold ids folded before this batch,
    all at or behind the fold front read with the head, so only an event there can be in one (an
    in-order event never costs a segment read)."""
    if not state.id_days or state.segment_front is None:
        return set()
    front = state.segment_front
    return {d for d in (int(ts // DAY_SECONDS) for ts in timestamps if ts <= front) if d in state.id_days}


def assemble(state: UserState, chunks: Mapping[str, Sequence[Entry] | None], ids: Mapping[int, Iterable[int]]) -> None:
    """Complete a state read from its head with its chunks and the id segments read.

    A chunk that is missing (expired by TTL) may only be one whose entries are all out of the
    history; otherwise the state is damaged and the batch fails loudly.
    """
    parts: list[Sequence[Entry]] = []
    horizon = (state.max_ts or 0.0) - HISTORY_SECONDS
    for c, newest in state.chunks:
        entries = chunks.get(chunk_key(state.user_id, c))
        if entries is None:
            if newest >= horizon:
                raise MissingChunkError(f"state chunk {c:08x} of {state.user_id!r} is missing")
            continue
        parts.append(entries)
    if parts:
        state.attach_chunks(parts)
    for day, keys in ids.items():
        state.attach_ids(day, keys)


class MissingChunkError(RuntimeError):
    """A head points at a chunk that is not there: fail the batch (SQS retries, then the DLQ)."""


class ChunkCache:
    """Decoded chunks of this container, least recently used out: chunks never change, so a hit is
    always right and saves the read. Bounded by entries (~150 bytes each in memory)."""

    def __init__(self, max_entries: int = 500_000) -> None:
        self.max_entries = max_entries
        self._chunks: OrderedDict[str, list[Entry]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> list[Entry] | None:
        entries = self._chunks.get(key)
        if entries is None:
            self.misses += 1
            return None
        self._chunks.move_to_end(key)
        self.hits += 1
        return entries

    def put(self, key: str, entries: list[Entry]) -> None:
        if key in self._chunks:
            return
        self._chunks[key] = entries
        self._size += len(entries)
        while self._size > self.max_entries and self._chunks:
            _, dropped = self._chunks.popitem(last=False)
            self._size -= len(dropped)
