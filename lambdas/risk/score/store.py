"""Where user states live: DynamoDB in AWS, a dict in tests and benchmarks.

A state is a head item plus immutable chunk and id-segment items (:mod:`risk.score.layout`), all in
the one table keyed by ``user_id`` (S): the head under the user id, the others under
``<user>#h...`` / ``<user>#i...``. Reads are batched (BatchGetItem, 100 keys a call): heads
strongly consistent, immutable items eventually consistent (half the price; a miss is re-read
strongly) and chunks cached for the container's life. A save writes the new immutable items, then
one conditional PutItem of the head guarded by ``version`` (optimistic concurrency: two concurrent
batches for one user cannot both win).

Both stores count the capacity units DynamoDB bills for what they do (``read_units``,
``write_units``, see :mod:`risk.score.units`): the benchmarks and the cost model read them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from risk.score import layout, units
from risk.score.state import UserState

BATCH_GET_LIMIT = 100
MAX_UNPROCESSED_ROUNDS = 6
DEFAULT_HORIZON_DAYS = 14


class StateStore(Protocol):
    read_units: float
    write_units: float

    def load(
        self, user_ids: Iterable[str], probes: Mapping[str, Iterable[float]] | None = None
    ) -> dict[str, UserState]:
        """States of the users that have one (others are simply absent). ``probes``: each user's batch
        event times, whose id segments are read so duplicates older than the history are recognised."""
        ...

    def save(self, state: UserState) -> bool:
        """Write if the stored version is still ``state.version``; on success bump it. False on conflict."""
        ...


def head_item(user_id: str, blob: bytes, version: int, expires_at: int) -> dict[str, Any]:
    return {
        "user_id": {"S": user_id},
        "state": {"B": blob},
        "version": {"N": str(version)},
        "expires_at": {"N": str(expires_at)},
    }


def immutable_item(put: layout.Put) -> dict[str, Any]:
    return {"user_id": {"S": put.key}, "state": {"B": put.blob}, "expires_at": {"N": str(put.expires_at)}}


class LayeredStore:
    """The layout's reads and writes over three primitives a backend provides (DynamoDB or a dict)."""

    def __init__(self, ttl_days: int, horizon_days: int, cache: layout.ChunkCache | None) -> None:
        self.ttl_days = ttl_days
        self.horizon_days = horizon_days
        self.cache = layout.ChunkCache() if cache is None else cache
        self.read_units = 0.0
        self.write_units = 0.0
        self.writes = 0  # heads written
        self._sizes: dict[str, int] = {}  # head key -> size of its item as last read or written

    # -- primitives
    def _get(self, keys: list[str], *, consistent: bool) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def _put(self, item: dict[str, Any]) -> None:
        raise NotImplementedError

    def _put_head(self, item: dict[str, Any], expected_version: int) -> bool:
        raise NotImplementedError

    # -- billing helpers
    def _bill_reads(self, keys: list[str], found: Mapping[str, dict[str, Any]], *, consistent: bool) -> None:
        for key in keys:
            item = found.get(key)
            self.read_units += units.read_units(0 if item is None else units.item_size(item), consistent=consistent)

    # -- the layout
    def load(
        self, user_ids: Iterable[str], probes: Mapping[str, Iterable[float]] | None = None
    ) -> dict[str, UserState]:
        ids = sorted(set(user_ids))
        heads = self._get(ids, consistent=True)
        self._bill_reads(ids, heads, consistent=True)
        out: dict[str, UserState] = {}
        wanted: dict[str, str] = {}  # immutable item key -> user
        id_days: dict[str, int] = {}
        # Every day a batch event may need, read or not: a segment that expired is an empty one.
        ids_by_user: dict[str, dict[int, list[int]]] = {}
        for uid, head in heads.items():
            self._sizes[uid] = units.item_size(head)
            st = UserState.from_bytes(uid, head["state"]["B"], int(head["version"]["N"]))
            out[uid] = st
            for key in layout.chunk_keys(st):
                wanted[key] = uid
            days = layout.days_to_read(st, (probes or {}).get(uid, ()))
            ids_by_user[uid] = {day: [] for day in days}
            for key, day in layout.id_keys(st, days).items():
                wanted[key] = uid
                id_days[key] = day
        chunks: dict[str, list[Any] | None] = {}
        fetch = []
        for key in wanted:
            cached = self.cache.get(key) if key not in id_days else None
            if cached is None:
                fetch.append(key)
            else:
                chunks[key] = cached
        found = self._get(fetch, consistent=False)
        self._bill_reads(fetch, found, consistent=False)
        missing = [k for k in fetch if k not in found]
        if missing:  # written a moment ago and not yet everywhere: ask again, strongly
            again = self._get(missing, consistent=True)
            self._bill_reads(missing, again, consistent=True)
            found.update(again)
        for key in fetch:
            item = found.get(key)
            if key in id_days:
                if item is not None:  # a missing segment expired: it was beyond the horizon
                    ids_by_user[wanted[key]][id_days[key]].extend(layout.ids_of(item["state"]["B"]))
                continue
            if item is None:
                chunks[key] = None
                continue
            entries = layout.chunk_entries(item["state"]["B"])
            self.cache.put(key, entries)
            chunks[key] = entries
        for uid, st in out.items():
            layout.assemble(st, chunks, ids_by_user[uid])
        return out

    def save(self, state: UserState) -> bool:
        blob, puts = layout.plan(state, ttl_days=self.ttl_days, horizon_days=self.horizon_days)
        for put in puts:
            item = immutable_item(put)
            self._put(item)
            self.write_units += units.write_units(units.item_size(item))
            if put.entries is not None:
                self.cache.put(put.key, put.entries)
        item = head_item(state.user_id, blob, state.version + 1, state.expires_at(self.ttl_days))
        size = units.item_size(item)
        previous = self._sizes.get(state.user_id, 0)
        if not self._put_head(item, state.version):
            self.write_units += units.write_units(0, previous)
            return False
        self.write_units += units.write_units(size, previous)
        self._sizes[state.user_id] = size
        self.writes += 1
        state.version += 1
        return True


class InMemoryStateStore(LayeredStore):
    """Same contract, layout and billing as DynamoDB, kept as wire-form items so every round trip is exercised."""

    def __init__(
        self,
        ttl_days: int = 30,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
        cache: layout.ChunkCache | None = None,
    ) -> None:
        super().__init__(ttl_days, horizon_days, cache)
        self.items: dict[str, dict[str, Any]] = {}  # key -> item, as DynamoDB would hold it

    def _get(self, keys: list[str], *, consistent: bool) -> dict[str, dict[str, Any]]:
        return {k: self.items[k] for k in keys if k in self.items}

    def _put(self, item: dict[str, Any]) -> None:
        self.items[item["user_id"]["S"]] = item

    def _put_head(self, item: dict[str, Any], expected_version: int) -> bool:
        key = item["user_id"]["S"]
        current = self.items.get(key)
        if (int(current["version"]["N"]) if current else 0) != expected_version:
            return False
        self.items[key] = item
        return True


class UnprocessedKeysError(RuntimeError):
    """DynamoDB kept returning UnprocessedKeys (throttling): fail the batch, SQS retries it."""


class DynamoStateStore(LayeredStore):
    def __init__(
        self,
        client: Any,
        table: str,
        ttl_days: int,
        sleep: Any = time.sleep,
        *,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
        cache: layout.ChunkCache | None = None,
    ) -> None:
        super().__init__(ttl_days, horizon_days, cache)
        self._client = client
        self._table = table
        self._sleep = sleep  # injectable so the throttling path needs no wall-clock time in tests

    def _get(self, keys: list[str], *, consistent: bool) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"user_id": {"S": k}} for k in keys[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": consistent,
                }
            }
            for attempt in range(MAX_UNPROCESSED_ROUNDS):
                resp = self._client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self._table, []):
                    out[item["user_id"]["S"]] = item
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise UnprocessedKeysError(
                    f"{self._table}: keys still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds"
                )
        return out

    def _put(self, item: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._table, Item=item)

    def _put_head(self, item: dict[str, Any], expected_version: int) -> bool:
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(user_id)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
