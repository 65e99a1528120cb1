"""Where user states live: DynamoDB in AWS, a dict in tests and benchmarks.

Reads are batched (BatchGetItem, 100 keys a call, strongly consistent); writes are one
conditional PutItem per changed user per batch, guarded by ``version`` (optimistic
concurrency: two concurrent batches for one user cannot both win). The item is
``user_id`` (S), ``state`` (B, orjson), ``version`` (N) and ``expires_at`` (N, TTL).

Both stores count the capacity units DynamoDB bills for what they do (``read_units``,
``write_units``, see :mod:`risk.score.units`): the benchmarks and the cost model read them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from risk.score import units
from risk.score.state import UserState

BATCH_GET_LIMIT = 100
MAX_UNPROCESSED_ROUNDS = 6


class StateStore(Protocol):
    def load(self, user_ids: Iterable[str]) -> dict[str, UserState]:
        """States of the users that have one (others are simply absent)."""
        ...

    def save(self, state: UserState) -> bool:
        """Write if the stored version is still ``state.version``; on success bump it. False on conflict."""
        ...


def state_item(state: UserState, ttl_days: int) -> dict[str, Any]:
    """The DynamoDB item of a state about to be written (its version already bumped)."""
    return {
        "user_id": {"S": state.user_id},
        "state": {"B": state.to_bytes()},
        "version": {"N": str(state.version + 1)},
        "expires_at": {"N": str(state.expires_at(ttl_days))},
    }


class InMemoryStateStore:
    """Same contract and billing as DynamoDB, kept as wire-form items so every round trip is exercised."""

    def __init__(self, ttl_days: int = 30) -> None:
        self.ttl_days = ttl_days
        self.items: dict[str, dict[str, Any]] = {}  # user_id -> item, as DynamoDB would hold it
        self.writes = 0
        self.read_units = 0.0
        self.write_units = 0.0

    def load(self, user_ids: Iterable[str]) -> dict[str, UserState]:
        out: dict[str, UserState] = {}
        for uid in set(user_ids):
            item = self.items.get(uid)
            self.read_units += units.read_units(0 if item is None else units.item_size(item))
            if item is not None:
                out[uid] = UserState.from_bytes(uid, item["state"]["B"], int(item["version"]["N"]))
        return out

    def save(self, state: UserState) -> bool:
        current = self.items.get(state.user_id)
        previous = 0 if current is None else units.item_size(current)
        if (int(current["version"]["N"]) if current else 0) != state.version:
            self.write_units += units.write_units(0, previous)
            return False
        item = state_item(state, self.ttl_days)
        self.write_units += units.write_units(units.item_size(item), previous)
        self.writes += 1
        self.items[state.user_id] = item
        state.version += 1
        return True


class UnprocessedKeysError(RuntimeError):
    """DynamoDB kept returning UnprocessedKeys (throttling): fail the batch, SQS retries it."""


class DynamoStateStore:
    def __init__(self, client: Any, table: str, ttl_days: int, sleep: Any = time.sleep) -> None:
        self._client = client
        self._table = table
        self._ttl_days = ttl_days
        self._sleep = sleep  # injectable so the throttling path needs no wall-clock time in tests
        self._sizes: dict[str, int] = {}  # user_id -> size of its item as last read or written
        self.read_units = 0.0
        self.write_units = 0.0

    def load(self, user_ids: Iterable[str]) -> dict[str, UserState]:
        ids = sorted(set(user_ids))
        out: dict[str, UserState] = {}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"user_id": {"S": uid}} for uid in ids[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(MAX_UNPROCESSED_ROUNDS):
                resp = self._client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self._table, []):
                    uid = item["user_id"]["S"]
                    self._sizes[uid] = size = units.item_size(item)
                    self.read_units += units.read_units(size)
                    out[uid] = UserState.from_bytes(uid, item["state"]["B"], int(item["version"]["N"]))
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise UnprocessedKeysError(
                    f"{self._table}: keys still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds"
                )
            # A key that is not found is billed the minimum read.
            self.read_units += sum(
                units.read_units(0) for uid in ids[start : start + BATCH_GET_LIMIT] if uid not in out
            )
        return out

    def save(self, state: UserState) -> bool:
        item = state_item(state, self._ttl_days)
        size = units.item_size(item)
        previous = self._sizes.get(state.user_id, 0)
        if state.version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(user_id)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(state.version)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except self._client.exceptions.ConditionalCheckFailedException:
            self.write_units += units.write_units(0, previous)
            return False
        self.write_units += units.write_units(size, previous)
        self._sizes[state.user_id] = size
        state.version += 1
        return True
