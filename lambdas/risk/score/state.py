"""Per-user feature state: a compact history whose features are a function of the user's stream order.

Why this shape:

* **Stream order defines the features.** The parsed queue is FIFO by user bucket, so each user's
  events arrive in their order on the stream, and :func:`apply_batch` applies them in that order
  (never re-sorted). An event's features depend only on the events of its user that came before
  it on the stream: not on batch boundaries, other users, or redeliveries. Entries are still kept
  sorted by ``(occurred_at, event_id)`` so windows are event-time windows.
* **At-least-once delivery.** Every event gets a per-user arrival sequence number. A redelivered
  event does not count again; its features are recomputed *as of its arrival*: entries that
  arrived after it are left out, and entries folded since (the ``pending`` log of the last batch
  that added events) are put back. Under FIFO a redelivery comes before any later message of its
  group, so what arrived after it is exactly that last batch: the recomputation equals the
  features the lost send carried, and the loader's MERGE dedupes.
* **Exact duplicates over the redelivery horizon.** An event id is recognised while it is in the
  history and, once folded, from the id segments of its event-time day (8-byte keys, kept for
  ``state.dedupe_horizon_days``, see :mod:`risk.score.layout`): whatever SQS, Kinesis or a replay
  brings back within that horizon does not count twice. Beyond it, an id is no longer recognised.
* **Bounded.** Entries older than :data:`HISTORY_SECONDS` behind the newest event, or beyond
  :data:`MAX_HISTORY`, are folded into aggregates (exact integer amount sums, the last location).
  Devices and countries are bounded maps. An event more than :data:`ALLOWED_LATENESS` behind the
  newest is scored against what is left in the history (deterministically) and folded directly.

Timestamps are epoch seconds (floats) throughout: no datetime in the loop. Amounts are summed
as exact integers (``features.AMOUNT_SCALE``), with cumulative sums aligned to the history, so
window sums and the prior mean/variance cost O(1) per event.
"""

from __future__ import annotations

import hashlib
import math
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from typing import Any, NamedTuple

import orjson

from risk.events.model import RiskEvent
from risk.score import features as fx
from risk.score.model import Features

HISTORY_SECONDS = fx.WINDOW_24H + 2 * 3_600.0  # the 24 h window plus two hours of allowed lateness
ALLOWED_LATENESS = HISTORY_SECONDS - fx.WINDOW_24H
MAX_HISTORY = 1_000  # entries; 48 bytes each serialised, far below DynamoDB's 400 KB item limit
MAX_DEVICES = 32
MAX_COUNTRIES = 32
# The pending log (folds by the user's last batch, what an exact redelivery undoes) is capped: a
# batch carrying more than this many folds of one user keeps the newest (older redeliveries of that
# batch are then scored as of now; the loader still keeps one row per event).
MAX_PENDING = 1_000
DAY_SECONDS = 86_400
STATE_FORMAT = 3
_MAGIC = b"\x00RS3"  # binary, columnar: head + immutable chunks; 2 was one item, 1 was orjson
_HEADER = struct.Struct("<I")

# (ts, key, amount, lat, lon, seq): a tuple so a probe (ts, key) bisects to it; key is the event
# id's 8-byte hash (:func:`event_key`), seq the user's arrival sequence number (1, 2, ...).
Entry = tuple[float, int, float | None, float | None, float | None, int]


def event_key(event_id: str) -> int:
    """A fixed-size identity for an event id (8-byte blake2b): what the state stores instead of the id.

    Two ids of one user colliding has a probability of about n² / 2⁶⁵ (10⁻¹³ for 10⁴ ids).
    """
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


_FINGERPRINTS: dict[str, str] = {}  # per container: the same devices come back batch after batch
_FINGERPRINT_CACHE_SIZE = 100_000


def device_fingerprint(device_id: str) -> str:
    """A short stable hash: the state needs equality of devices, not their ids."""
    fp = _FINGERPRINTS.get(device_id)
    if fp is None:
        if len(_FINGERPRINTS) >= _FINGERPRINT_CACHE_SIZE:
            _FINGERPRINTS.clear()
        fp = _FINGERPRINTS[device_id] = hashlib.blake2b(device_id.encode(), digest_size=8).hexdigest()
    return fp


class MissingIdsError(RuntimeError):
    """The store did not read an id segment a batch event may be in (a bug: fail the batch, not dedupe)."""


class UserState:
    """One user's state. Mutable for speed; :func:`apply_batch` copies before it changes one."""

    __slots__ = (
        "base_count",
        "base_last_geo",
        "base_last_ts",
        "base_n",
        "base_sum",
        "base_sumsq",
        "batch_open",
        "chunks",
        "countries",
        "cum_n",
        "cum_s",
        "cum_ss",
        "devices",
        "fold_front",
        "fold_ids",
        "fold_set",
        "history",
        "id_days",
        "ids",
        "max_ts",
        "old_ids",
        "pending",
        "pending_base",
        "pending_from",
        "sealed_upto",
        "segment_front",
        "seq",
        "user_id",
        "version",
    )

    def __init__(self, user_id: str, version: int = 0) -> None:
        self.user_id = user_id
        self.version = version  # the stored version this state was read at (0: not stored yet)
        self.history: list[Entry] = []
        self.ids: dict[int, float] = {}  # event key -> ts, for every history entry
        # Cumulative amount count / sum / sum of squares: sum over history[a:b] = cum[b] - cum[a].
        self.cum_n: list[int] = [0]
        self.cum_s: list[int] = [0]
        self.cum_ss: list[int] = [0]
        # Aggregates of entries folded out of the history.
        self.base_count = 0
        self.base_n = 0  # amounts among them
        self.base_sum = 0  # in 1 / AMOUNT_SCALE units
        self.base_sumsq = 0
        self.base_last_ts: float | None = None
        self.base_last_geo: tuple[float, float, float] | None = None  # (ts, lat, lon)
        # fingerprint / country -> [first arrival seq, last_ts]
        self.devices: dict[str, list[Any]] = {}
        self.countries: dict[str, list[Any]] = {}
        self.max_ts: float | None = None
        self.seq = 0  # arrival sequence number of the user's latest event
        # Folds by the arrivals after ``pending_from`` (the user's last batch with new events): (entry,
        # seq of the event whose arrival folded it), and (base_last_ts, base_last_geo) before them.
        # What an exact redelivery's recomputation undoes.
        self.pending: list[tuple[Entry, int]] = []
        self.pending_base: tuple[float | None, tuple[float, float, float] | None] = (None, None)
        self.pending_from = 0
        self.batch_open = False  # a new event of this batch arrived (then ``pending`` is this batch's)
        # Exact duplicate detection beyond the history (see risk.score.layout): the largest (ts, key)
        # folded so far, the folded ids not yet written to an id segment (by event-time day), the
        # segments written (day -> content hashes) and those read for this batch (day -> keys).
        self.fold_front: tuple[float, int] | None = None
        self.fold_ids: dict[int, list[int]] = {}
        self.fold_set: set[int] = set()
        self.id_days: dict[int, list[int]] = {}
        self.old_ids: dict[int, set[int]] = {}
        self.segment_front: float | None = None  # the fold front's time when read: no segment id is later
        # Storage of the history (risk.score.layout): immutable chunks (content hash, newest ts) and
        # the arrival seq from which entries are not in a chunk yet.
        self.chunks: list[tuple[int, float]] = []
        self.sealed_upto = 1

    # ----------------------------------------------------------------- copying, equality
    def copy(self) -> UserState:
        other = UserState(self.user_id, self.version)
        other.history = list(self.history)
        other.ids = dict(self.ids)
        other.cum_n = list(self.cum_n)
        other.cum_s = list(self.cum_s)
        other.cum_ss = list(self.cum_ss)
        other.base_count = self.base_count
        other.base_n = self.base_n
        other.base_sum = self.base_sum
        other.base_sumsq = self.base_sumsq
        other.base_last_ts = self.base_last_ts
        other.base_last_geo = self.base_last_geo
        other.devices = {k: list(v) for k, v in self.devices.items()}
        other.countries = {k: list(v) for k, v in self.countries.items()}
        other.max_ts = self.max_ts
        other.seq = self.seq
        other.pending = list(self.pending)
        other.pending_base = self.pending_base
        other.pending_from = self.pending_from
        other.batch_open = self.batch_open
        other.fold_front = self.fold_front
        other.fold_ids = {d: list(v) for d, v in self.fold_ids.items()}
        other.fold_set = set(self.fold_set)
        other.id_days = {d: list(v) for d, v in self.id_days.items()}
        other.old_ids = dict(self.old_ids)  # of read-only sets
        other.segment_front = self.segment_front
        other.chunks = list(self.chunks)
        other.sealed_upto = self.sealed_upto
        return other

    def content(self) -> dict[str, Any]:
        """What must not depend on batch boundaries: not the storage bookkeeping (version, chunks, id
        segments) nor the pending log (the last batch's folds)."""
        return {
            "h": self.history,
            "b": [self.base_count, self.base_n, self.base_sum, self.base_sumsq, self.base_last_ts],
            "g": None if self.base_last_geo is None else list(self.base_last_geo),
            "d": self.devices,
            "c": self.countries,
            "ff": self.fold_front,
            "m": self.max_ts,
            "s": self.seq,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserState) and self.user_id == other.user_id and self.content() == other.content()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UserState({self.user_id!r}, version={self.version}, events={len(self.history)})"

    # ------------------------------------------------------------------- serialisation
    def to_bytes(self, *, chunked: bool = False) -> bytes:
        """The head item's blob: a small orjson header, then little-endian columns (8 bytes a value, 48
        per history entry), decoded at C speed.

        ``chunked=False`` (tests, tools): self-contained, every history entry in the blob.
        ``chunked=True`` (:mod:`risk.score.layout`): only the entries not sealed into a chunk yet; the
        header lists the chunks to read with it.
        """
        tail = [e for e in self.history if e[5] >= self.sealed_upto] if chunked else self.history
        fold_days = sorted(self.fold_ids)
        fold_keys = [k for d in fold_days for k in self.fold_ids[d]]
        id_days = sorted(self.id_days)
        chunks = self.chunks if chunked else []
        devices = list(self.devices.items())
        header = orjson.dumps(
            {
                # Sums as strings: exact integers may outgrow the 64 bits JSON encoders accept.
                "b": [self.base_count, self.base_n, str(self.base_sum), str(self.base_sumsq), self.base_last_ts],
                "g": None if self.base_last_geo is None else list(self.base_last_geo),
                "c": self.countries,
                "m": self.max_ts,
                "s": self.seq,
                "pb": [self.pending_base[0], None if self.pending_base[1] is None else list(self.pending_base[1])],
                "pf": self.pending_from,
                "ff": None if self.fold_front is None else [self.fold_front[0], str(self.fold_front[1])],
                "fd": [[d, len(self.fold_ids[d])] for d in fold_days],
                "id": [[d, len(self.id_days[d])] for d in id_days],
                "su": self.sealed_upto if chunked else 1,
                "n": [len(tail), len(self.pending), len(self.devices), len(chunks)],
            }
        )
        parts = [_MAGIC, _HEADER.pack(len(header)), header]
        parts += _columns(tail)
        parts += _columns([e for e, _ in self.pending])
        parts.append(_pack("q", [f for _, f in self.pending]))
        parts.append(_pack("Q", fold_keys))
        # Devices, the chunk directory and the id segments as columns too: 20, 12 and 4 bytes each.
        parts.append(_pack("Q", [int(fp, 16) for fp, _ in devices]))
        parts.append(_pack("d", [rec[1] for _, rec in devices]))
        parts.append(_pack("I", [rec[0] for _, rec in devices]))
        parts.append(_pack("d", [ts for _, ts in chunks]))
        parts.append(_pack("I", [h for h, _ in chunks]))
        parts.append(_pack("I", [h for d in id_days for h in self.id_days[d]]))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, user_id: str, blob: bytes, version: int) -> UserState:
        """A state from its head blob. If the header lists chunks, the history holds only the head's
        entries until :meth:`attach_chunks` adds the chunks' (what the stores do)."""
        if blob[: len(_MAGIC)] != _MAGIC:
            raise ValueError(f"state of {user_id!r} is not in format {STATE_FORMAT} (empty the state table)")
        start = len(_MAGIC) + _HEADER.size
        (size,) = _HEADER.unpack_from(blob, len(_MAGIC))
        doc = orjson.loads(blob[start : start + size])
        offset = start + size
        n_hist, n_pending, n_devices, n_chunks = doc["n"]
        st = cls(user_id, version)
        st.history, offset = _entries(blob, offset, n_hist)
        pending, offset = _entries(blob, offset, n_pending)
        fold_seqs = _unpack("q", blob, offset, n_pending)
        offset += 8 * n_pending
        st.pending = list(zip(pending, fold_seqs, strict=True))
        for day, n in doc["fd"]:
            keys = _unpack("Q", blob, offset, n)
            offset += 8 * n
            st.fold_ids[day] = keys
            st.fold_set.update(keys)
        fps = _unpack("Q", blob, offset, n_devices)
        dev_ts = _unpack("d", blob, offset + 8 * n_devices, n_devices)
        dev_seqs = _unpack("I", blob, offset + 16 * n_devices, n_devices)
        offset += 20 * n_devices
        st.devices = {f"{fp:016x}": [q, t] for fp, q, t in zip(fps, dev_seqs, dev_ts, strict=True)}
        newest = _unpack("d", blob, offset, n_chunks)
        hashes = _unpack("I", blob, offset + 8 * n_chunks, n_chunks)
        offset += 12 * n_chunks
        st.chunks = list(zip(hashes, newest, strict=True))
        for day, n in doc["id"]:
            st.id_days[day] = _unpack("I", blob, offset, n)
            offset += 4 * n
        st.sealed_upto = doc["su"]
        ff = doc["ff"]
        st.fold_front = None if ff is None else (ff[0], int(ff[1]))
        st.segment_front = None if ff is None else ff[0]
        st.base_count, st.base_n, base_sum, base_sumsq, st.base_last_ts = doc["b"]
        st.base_sum, st.base_sumsq = int(base_sum), int(base_sumsq)
        st.base_last_geo = None if doc["g"] is None else tuple(doc["g"])
        st.countries = doc["c"]
        st.max_ts = doc["m"]
        st.seq = doc["s"]
        st.pending_from = doc["pf"]
        last_ts, last_geo = doc["pb"]
        st.pending_base = (last_ts, None if last_geo is None else tuple(last_geo))
        st._rebuild()
        return st

    def attach_chunks(self, chunks: Iterable[Sequence[Entry]]) -> None:
        """Complete the history with the entries of its chunks (those not folded since they were sealed)."""
        entries = list(self.history)
        for chunk in chunks:
            entries.extend(chunk)
        front = self.fold_front
        if front is not None:
            entries = [e for e in entries if (e[0], e[1]) > front]
        entries.sort(key=_order)
        self.history = entries
        self._rebuild()

    def attach_ids(self, day: int, keys: Iterable[int]) -> None:
        """Ids of an event-time day read from its id segments (for the batch's possible duplicates)."""
        self.old_ids[day] = self.old_ids.get(day, set()) | set(keys)

    def _rebuild(self) -> None:
        """Ids and cumulative sums from the history (after reading)."""
        self.ids = {e[1]: e[0] for e in self.history}
        amounts = [e[2] for e in self.history]
        units = [0 if a is None else fx.amount_units(a) for a in amounts]
        self.cum_n = list(accumulate((a is not None for a in amounts), initial=0))
        self.cum_s = list(accumulate(units, initial=0))
        self.cum_ss = list(accumulate((u * u for u in units), initial=0))

    def expires_at(self, ttl_days: int) -> int:
        """DynamoDB TTL: event time based, so the state is a pure function of the events."""
        return int((self.max_ts or 0.0) + ttl_days * 86_400)

    # ------------------------------------------------------------------------ features
    def _features(
        self,
        i: int,
        ts: float,
        seq: int,
        amount: float | None,
        *,
        lat: float | None,
        lon: float | None,
        device: str | None,
        country: str | None,
    ) -> Features:
        """Features of the event of arrival ``seq`` whose history position is ``i`` (before it: ``history[:i]``)."""
        hist = self.history
        lo_1m = bisect_left(hist, (ts - fx.WINDOW_1M,), 0, i)
        lo_1h = bisect_left(hist, (ts - fx.WINDOW_1H,), 0, lo_1m)
        lo_24h = bisect_left(hist, (ts - fx.WINDOW_24H,), 0, lo_1h)
        cum_s = self.cum_s
        own = 0 if amount is None else fx.amount_units(amount)
        # Prior amounts: folded aggregates + every history entry before this one.
        n_prior = self.base_n + self.cum_n[i] - self.cum_n[0]
        mean_prior, m2_prior = fx.moments(
            n_prior, self.base_sum + cum_s[i] - cum_s[0], self.base_sumsq + self.cum_ss[i] - self.cum_ss[0]
        )
        if amount is None:
            zscore = ratio = None
        else:
            zscore = fx.amount_zscore(amount, n_prior, mean_prior, m2_prior)
            ratio = fx.amount_ratio(amount, n_prior, mean_prior)

        # Nearest earlier location by event time.
        distance = speed = None
        if lat is not None and lon is not None:
            loc: tuple[float, float, float] | None = None
            for k in range(i - 1, -1, -1):
                e = hist[k]
                if e[3] is not None:
                    loc = (e[0], e[3], e[4])  # type: ignore[assignment]
                    break
            if loc is None and self.base_last_geo is not None and self.base_last_geo[0] <= ts:
                loc = self.base_last_geo
            if loc is not None:
                distance = fx.haversine_km(loc[1], loc[2], lat, lon)
                speed = fx.speed_kmh(distance, ts - loc[0])

        if i > 0:
            since_last: float | None = ts - hist[i - 1][0]
        elif self.base_last_ts is not None:
            since_last = max(ts - self.base_last_ts, 0.0)
        else:
            since_last = None

        has_prior = i > 0 or self.base_count > 0
        new_device = False  # not seen in any earlier arrival
        if has_prior and device is not None:
            rec = self.devices.get(device)
            new_device = rec is None or rec[0] >= seq
        new_country = False
        if has_prior and country is not None:
            rec = self.countries.get(country)
            new_country = rec is None or rec[0] >= seq

        device_age = country_age = None  # arrivals since first seen: 0 for a new one (or the first event)
        if device is not None:
            rec = self.devices.get(device)
            device_age = 0 if new_device or rec is None or rec[0] >= seq else seq - rec[0]
        if country is not None:
            rec = self.countries.get(country)
            country_age = 0 if new_country or rec is None or rec[0] >= seq else seq - rec[0]

        # High-value events of the hour, for this user (the most recent HIGH_VALUE_SCAN entries looked at).
        hv = fx.high_value_threshold(n_prior, mean_prior)
        high_value = 0 if amount is None or amount < hv else 1
        for k in range(max(lo_1h, i - fx.HIGH_VALUE_SCAN), i):
            a = hist[k][2]
            if a is not None and a >= hv:
                high_value += 1
        # The user's usual rate: earlier events in the 24 h window over the time they cover: 24 h
        # once the history reaches beyond it, else back to the last folded event or the first one.
        if lo_24h > 0:
            span = fx.WINDOW_24H
        elif self.base_last_ts is not None:
            span = min(ts - self.base_last_ts, fx.WINDOW_24H)
        else:
            span = ts - hist[0][0] if i > 0 else 0.0
        usual_per_h = fx.usual_rate_per_h(i - lo_24h, span)

        count_1m = i - lo_1m + 1
        count_1h = i - lo_1h + 1
        sum_1h = fx.amount_sum(cum_s[i] - cum_s[lo_1h] + own)
        # Positional, in field order: measurably cheaper than keywords for a frozen dataclass.
        return Features(
            count_1m,
            count_1h,
            i - lo_24h + 1,
            fx.amount_sum(cum_s[i] - cum_s[lo_1m] + own),
            sum_1h,
            fx.amount_sum(cum_s[i] - cum_s[lo_24h] + own),
            zscore,
            ratio,
            distance,
            speed,
            since_last,
            new_device,
            new_country,
            fx.hour_of_day(ts),
            fx.is_geo_flag(distance, speed),
            fx.is_velocity_flag(count_1m, count_1h),
            fx.is_new_device_flag(new_device, amount, n_prior, mean_prior),
            fx.is_high_amount(amount, ratio),
            high_value,
            fx.spend_ratio(sum_1h, n_prior, mean_prior),
            count_1m * 60.0 / usual_per_h,
            count_1h / usual_per_h,
            device_age,
            country_age,
        )

    # ------------------------------------------------------------------------ updates
    def apply(self, event: RiskEvent, ts: float | None = None) -> tuple[Features, bool]:
        """Add one event, the user's next on the stream (idempotently); return its features and
        whether it was a duplicate (then its features are recomputed as of its first arrival)."""
        if ts is None:
            ts = event.occurred_at.timestamp()
        eid = event_key(event.event_id)
        amount = event.amount
        geo = event.geo
        lat = lon = None
        if geo is not None:
            lat, lon = geo.lat, geo.lon
        device = None if event.device_id is None else device_fingerprint(event.device_id)
        country = event.country

        stored_ts = self.ids.get(eid)
        if stored_ts is not None or eid in self.fold_set or (self.id_days and self._seen_long_ago(eid, ts)):
            return self._redelivered(eid, stored_ts, ts, amount, lat=lat, lon=lon, device=device, country=country), True

        if not self.batch_open:  # the first new event of this batch: the last batch's folds are final
            self.batch_open = True
            self._trim_pending(self.seq)
        seq = self.seq + 1
        i = bisect_left(self.history, (ts, eid))
        feats = self._features(i, ts, seq, amount, lat=lat, lon=lon, device=device, country=country)
        self.seq = seq
        entry: Entry = (ts, eid, amount, lat, lon, seq)
        if self.max_ts is not None and ts < self.max_ts - HISTORY_SECONDS:
            self._fold(entry, seq)  # a straggler beyond the allowed lateness: aggregates only
        else:
            self.history.insert(i, entry)
            self._push_sums(i, amount)
            self.ids[eid] = ts
            if self.max_ts is None or ts > self.max_ts:
                self.max_ts = ts
            self._evict(seq)
        if device is not None:
            _remember(self.devices, device, ts, seq, MAX_DEVICES)
        if country is not None:
            _remember(self.countries, country, ts, seq, MAX_COUNTRIES)
        if len(self.pending) > MAX_PENDING:
            self._trim_pending(self.pending[len(self.pending) - MAX_PENDING - 1][1])
        return feats, False

    def _seen_long_ago(self, eid: int, ts: float) -> bool:
        """Whether ``eid`` is in an id segment of its event-time day (folded in an earlier batch)."""
        if self.segment_front is None or ts > self.segment_front:
            return False  # the segments hold ids folded before this batch: all at or behind that fold front
        day = int(ts // DAY_SECONDS)
        if day not in self.id_days:
            return False
        seen = self.old_ids.get(day)
        if seen is None:
            raise MissingIdsError(f"the id segments of day {day} of {self.user_id!r} were not read for this batch")
        return eid in seen

    def _trim_pending(self, upto: int) -> None:
        """Make the folds by arrivals up to ``upto`` final: a redelivery of those arrivals is scored as of now."""
        self.pending_from = max(self.pending_from, upto)
        pending = self.pending
        k = 0
        while k < len(pending) and pending[k][1] <= upto:
            k += 1
        if k:
            last_ts, last_geo = self.pending_base
            for entry, _ in pending[:k]:
                ts, lat, lon = entry[0], entry[3], entry[4]
                if last_ts is None or ts > last_ts:
                    last_ts = ts
                if lat is not None and lon is not None and (last_geo is None or ts >= last_geo[0]):
                    last_geo = (ts, lat, lon)
            self.pending_base = (last_ts, last_geo)
            del pending[:k]

    def _redelivered(
        self,
        eid: int,
        stored_ts: float | None,
        ts: float,
        amount: float | None,
        *,
        lat: float | None,
        lon: float | None,
        device: str | None,
        country: str | None,
    ) -> Features:
        """Features of an event already applied, as of its arrival (slow path: redeliveries are rare)."""
        entry: Entry | None = None
        if stored_ts is not None:
            entry = self.history[bisect_left(self.history, (stored_ts, eid))]
        else:
            entry = next((e for e, _ in self.pending if e[1] == eid), None)
        if entry is None or entry[5] <= self.pending_from:
            # Not of the user's last batch (a producer's re-send, not an SQS redelivery): scored against the
            # state as it is. It is flagged a duplicate and the loader keeps the first row of an event.
            i = bisect_left(self.history, (ts, eid))
            return self._features(i, ts, self.seq + 1, amount, lat=lat, lon=lon, device=device, country=country)
        seq = entry[5]
        then = self._as_of(seq)
        i = bisect_left(then.history, (entry[0], eid))
        return then._features(i, entry[0], seq, amount, lat=lat, lon=lon, device=device, country=country)

    def _as_of(self, seq: int) -> UserState:
        """This state as it was just before arrival ``seq`` (one of the user's last batch),
        for what features read: history, sums and aggregates; devices and countries by first arrival."""
        then = UserState(self.user_id)
        back = [e for e, fold_seq in self.pending if fold_seq >= seq and e[5] < seq]  # in the history then
        gone = [e for e, fold_seq in self.pending if fold_seq >= seq]  # not in the aggregates then
        then.history = sorted([e for e in self.history if e[5] < seq] + back)
        amounts = [e[2] for e in then.history]
        units = [0 if a is None else fx.amount_units(a) for a in amounts]
        then.cum_n = list(accumulate((a is not None for a in amounts), initial=0))
        then.cum_s = list(accumulate(units, initial=0))
        then.cum_ss = list(accumulate((u * u for u in units), initial=0))
        then.base_count = self.base_count - len(gone)
        then.base_n, then.base_sum, then.base_sumsq = self.base_n, self.base_sum, self.base_sumsq
        for e in gone:
            if e[2] is not None:
                u = fx.amount_units(e[2])
                then.base_n -= 1
                then.base_sum -= u
                then.base_sumsq -= u * u
        then.base_last_ts, then.base_last_geo = self.pending_base
        for e, fold_seq in self.pending:
            if fold_seq < seq:
                then._fold_last(e)
        then.devices, then.countries = self.devices, self.countries
        return then

    def _fold_last(self, entry: Entry) -> None:
        ts, lat, lon = entry[0], entry[3], entry[4]
        if self.base_last_ts is None or ts > self.base_last_ts:
            self.base_last_ts = ts
        if lat is not None and lon is not None and (self.base_last_geo is None or ts >= self.base_last_geo[0]):
            self.base_last_geo = (ts, lat, lon)

    def _push_sums(self, i: int, amount: float | None) -> None:
        """Account for a new entry at history position ``i`` in the cumulative sums."""
        if amount is None:
            c = u = q = 0
        else:
            c, u = 1, fx.amount_units(amount)
            q = u * u
        if i + 1 == len(self.cum_n):  # appended at the end: the common, in-order case
            self.cum_n.append(self.cum_n[-1] + c)
            self.cum_s.append(self.cum_s[-1] + u)
            self.cum_ss.append(self.cum_ss[-1] + q)
            return
        for cum, v in ((self.cum_n, c), (self.cum_s, u), (self.cum_ss, q)):
            if i + 1 == len(cum):  # appended at the end: the common, in-order case
                cum.append(cum[-1] + v)
            else:
                cum.insert(i + 1, cum[i] + v)
                if v:
                    for j in range(i + 2, len(cum)):
                        cum[j] += v

    def _evict(self, seq: int) -> None:
        hist = self.history
        assert self.max_ts is not None
        horizon = self.max_ts - HISTORY_SECONDS
        if hist[0][0] >= horizon and len(hist) <= MAX_HISTORY:  # nothing to fold: the common case
            return
        k = bisect_left(hist, (horizon,))
        k = max(k, len(hist) - MAX_HISTORY)
        if k <= 0:
            return
        for entry in hist[:k]:
            del self.ids[entry[1]]
            self._fold(entry, seq)
        del hist[:k]
        del self.cum_n[:k], self.cum_s[:k], self.cum_ss[:k]

    def _fold(self, entry: Entry, seq: int) -> None:
        """Fold an entry into the aggregates because event ``seq`` arrived; logged in ``pending``."""
        eid, amount = entry[1], entry[2]
        self.pending.append((entry, seq))
        self.base_count += 1
        if amount is not None:
            u = fx.amount_units(amount)
            self.base_n += 1
            self.base_sum += u
            self.base_sumsq += u * u
        self._fold_last(entry)
        key = (entry[0], eid)
        if self.fold_front is None or key > self.fold_front:
            self.fold_front = key
        self.fold_ids.setdefault(int(entry[0] // DAY_SECONDS), []).append(eid)
        self.fold_set.add(eid)


_NONE = math.nan  # a missing amount or coordinate in a float column (real ones are finite)
if array("I").itemsize != 4:  # pragma: no cover - 4 on every platform Lambda runs
    raise ImportError("risk.score.state stores 4-byte unsigned columns")
if sys.byteorder != "little":  # pragma: no cover - Lambda runs little-endian (x86_64, arm64)
    raise ImportError("risk.score.state stores little-endian columns")


def _pack(code: str, values: Sequence[Any]) -> bytes:
    return array(code, values).tobytes()


def _unpack(code: str, blob: bytes, offset: int, n: int) -> list[Any]:
    col = array(code)
    col.frombytes(blob[offset : offset + col.itemsize * n])
    return col.tolist()


def _floats(values: Iterable[float | None]) -> list[float]:
    return [_NONE if v is None else v for v in values]


def _optional(values: list[float]) -> list[float | None]:
    isnan = math.isnan
    return [None if isnan(v) else v for v in values]


def _columns(entries: Sequence[Entry]) -> list[bytes]:
    cols: list[Sequence[Any]] = list(zip(*entries, strict=True)) if entries else [()] * 6
    ts, keys, amounts, lats, lons, seqs = cols
    return [
        _pack("d", ts),
        _pack("Q", keys),
        _pack("d", _floats(amounts)),
        _pack("d", _floats(lats)),
        _pack("d", _floats(lons)),
        _pack("q", seqs),
    ]


def _entries(blob: bytes, offset: int, n: int) -> tuple[list[Entry], int]:
    ts = _unpack("d", blob, offset, n)
    keys = _unpack("Q", blob, offset + 8 * n, n)
    amounts = _optional(_unpack("d", blob, offset + 16 * n, n))
    lats = _optional(_unpack("d", blob, offset + 24 * n, n))
    lons = _optional(_unpack("d", blob, offset + 32 * n, n))
    seqs = _unpack("q", blob, offset + 40 * n, n)
    return list(zip(ts, keys, amounts, lats, lons, seqs, strict=True)), offset + 48 * n


def _order(entry: Entry) -> tuple[float, int]:
    return entry[0], entry[1]


def _remember(seen: dict[str, list[Any]], key: str, ts: float, seq: int, bound: int) -> None:
    """Keep the first arrival and the latest ts of a device or country; evict the stalest."""
    rec = seen.get(key)
    if rec is None:
        seen[key] = [seq, ts]
        if len(seen) > bound:
            stalest = min(seen, key=lambda k: (seen[k][1], k))
            del seen[stalest]
        return
    rec[1] = max(rec[1], ts)


class BatchResult(NamedTuple):
    features: list[Features]  # aligned with the input events
    states: dict[str, UserState]  # only the users whose state changed (to be written)
    duplicates: list[bool]  # aligned with the input events


def apply_batch(states: Mapping[str, UserState], events: Sequence[RiskEvent], *, owned: bool = False) -> BatchResult:
    """Apply a batch to the users' states, in memory.

    Pure by default: the input states are copied before they change. ``owned=True``
    says the caller owns ``states`` (just loaded from a store) and lets them be changed
    in place, saving the copy on the hot path.
    Each user's events are applied in their order in ``events``, which is their stream order
    (the parsed queue is FIFO per user bucket): never re-sorted, so a batch boundary anywhere
    gives the same features.
    """
    n = len(events)
    out: list[Features | None] = [None] * n
    dups = [False] * n
    working: dict[str, UserState] = {}
    changed: set[str] = set()
    for k, event in enumerate(events):
        uid = event.user_id
        st = working.get(uid)
        if st is None:
            base = states.get(uid)
            st = UserState(uid) if base is None else base if owned else base.copy()
            st.batch_open = False
            working[uid] = st
        feats, dup = st.apply(event)
        out[k] = feats
        dups[k] = dup
        if not dup:
            changed.add(uid)
    return BatchResult(out, {uid: working[uid] for uid in changed}, dups)  # type: ignore[arg-type]


def replay(events: Iterable[RiskEvent], batch_size: int = 500) -> tuple[list[Features], dict[str, UserState]]:
    """Features of a whole event stream, batch by batch, through :func:`apply_batch` (training, demos)."""
    states: dict[str, UserState] = {}
    feats: list[Features] = []
    batch: list[RiskEvent] = []

    def flush() -> None:
        result = apply_batch(states, batch, owned=True)
        feats.extend(result.features)
        states.update(result.states)
        batch.clear()

    for event in events:
        batch.append(event)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return feats, states
