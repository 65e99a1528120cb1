"""Where user states live: DynamoDB in AWS, a dict in tests and benchmarks.

Reads are batched (BatchGetItem, 100 keys a call, strongly consistent); writes are one
conditional PutItem per changed user per batch, guarded by ``version`` (optimistic
concurrency: two concurrent batches for one user cannot both win). The item is
``user_id`` (S), ``state`` (B, orjson), ``version`` (N) and ``expires_at`` (N, TTL).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

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


class InMemoryStateStore:
    """Same contract as DynamoDB, kept as serialised bytes so every round trip is exercised."""

    def __init__(self, ttl_days: int = 30) -> None:
        self.ttl_days = ttl_days
        self.items: dict[str, tuple[int, bytes, int]] = {}  # user_id -> (version, state, expires_at)
        self.writes = 0

    def load(self, user_ids: Iterable[str]) -> dict[str, UserState]:
        out: dict[str, UserState] = {}
        for uid in user_ids:
            item = self.items.get(uid)
            if item is not None:
                out[uid] = UserState.from_bytes(uid, item[1], item[0])
        return out

    def save(self, state: UserState) -> bool:
        current = self.items.get(state.user_id)
        if (current[0] if current else 0) != state.version:
            return False
        self.writes += 1
        self.items[state.user_id] = (state.version + 1, state.to_bytes(), state.expires_at(self.ttl_days))
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
                    out[uid] = UserState.from_bytes(uid, item["state"]["B"], int(item["version"]["N"]))
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise UnprocessedKeysError(
                    f"{self._table}: keys still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds"
                )
        return out

    def save(self, state: UserState) -> bool:
        item = {
            "user_id": {"S": state.user_id},
            "state": {"B": state.to_bytes()},
            "version": {"N": str(state.version + 1)},
            "expires_at": {"N": str(state.expires_at(self._ttl_days))},
        }
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
            return False
        state.version += 1
        return True
