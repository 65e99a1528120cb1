"""State stores: DynamoDB (moto) round trips, chunked reads, version conditions; conflict handling."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from risk.score import units
from risk.score.scorers import RulesScorer
from risk.score.service import StateConflictError, score_events, update_state
from risk.score.state import UserState, apply_batch, event_key
from risk.score.store import DynamoStateStore, InMemoryStateStore, UnprocessedKeysError
from tests.score.conftest import T0, event

TABLE = "risk-scoring-test-state"
REGION = "eu-west-1"


def create_table(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        yield client


def count_calls(client: Any) -> Counter[str]:
    """Count API calls on the real client with a botocore event hook."""
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    return calls


def test_round_trip_with_versions_and_ttl(ddb: Any) -> None:
    store = DynamoStateStore(ddb, TABLE, ttl_days=30)
    result = apply_batch({}, [event(0, user="u-1"), event(5, user="u-2")])
    assert all(store.save(s) for s in result.states.values())
    loaded = store.load(["u-1", "u-2", "u-unknown"])
    assert set(loaded) == {"u-1", "u-2"}
    assert loaded["u-1"] == result.states["u-1"] and loaded["u-1"].version == 1
    item = ddb.get_item(TableName=TABLE, Key={"user_id": {"S": "u-1"}})["Item"]
    assert set(item) == {"user_id", "state", "version", "expires_at"}
    assert int(item["expires_at"]["N"]) == int(T0.timestamp()) + 30 * 86_400


def test_writes_are_conditional_on_the_version_read(ddb: Any) -> None:
    store = DynamoStateStore(ddb, TABLE, ttl_days=30)
    first = apply_batch({}, [event(0)]).states["u-1"]
    racer = apply_batch({}, [event(1)]).states["u-1"]  # also read "no item yet"
    assert store.save(first)
    assert not store.save(racer)  # attribute_not_exists fails
    a = store.load(["u-1"])["u-1"]
    b = store.load(["u-1"])["u-1"]
    assert store.save(apply_batch({"u-1": a}, [event(2)]).states["u-1"])
    assert not store.save(apply_batch({"u-1": b}, [event(3)]).states["u-1"])  # version 1 is gone
    assert store.load(["u-1"])["u-1"].version == 2


def test_reads_are_chunked_by_100(ddb: Any) -> None:
    store = DynamoStateStore(ddb, TABLE, ttl_days=30)
    result = apply_batch({}, [event(0, user=f"u-{k:03d}") for k in range(250)])
    for s in result.states.values():
        store.save(s)
    calls = count_calls(ddb)
    loaded = store.load([f"u-{k:03d}" for k in range(250)] + ["u-000"])
    assert len(loaded) == 250
    assert calls == Counter({"BatchGetItem": 3})


def test_unprocessed_keys_are_retried_then_give_up() -> None:
    """moto never throttles, so UnprocessedKeys comes from botocore's Stubber."""
    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    blob = UserState("u-2").to_bytes()
    keys = {TABLE: {"Keys": [{"user_id": {"S": "u-2"}}], "ConsistentRead": True}}
    sleeps: list[float] = []
    store = DynamoStateStore(client, TABLE, ttl_days=30, sleep=sleeps.append)
    with Stubber(client) as stub:
        stub.add_response("batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": keys})
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: [{"user_id": {"S": "u-2"}, "state": {"B": blob}, "version": {"N": "4"}}]}},
            {"RequestItems": keys},
        )
        assert store.load(["u-2"])["u-2"].version == 4
        assert len(sleeps) == 1
        for _ in range(6):
            stub.add_response("batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": keys})
        with pytest.raises(UnprocessedKeysError):
            store.load(["u-2"])


class RacingStore(InMemoryStateStore):
    """Another invocation writes the same user right before our first write (a real concurrent writer)."""

    def __init__(self, rival_events: list[Any], rounds: int = 1) -> None:
        super().__init__()
        self.rival_events = rival_events
        self.rounds = rounds

    def save(self, state: UserState) -> bool:
        if self.rounds:
            self.rounds -= 1
            rival = apply_batch(self.load([state.user_id]), [self.rival_events.pop(0)])
            for s in rival.states.values():
                assert super().save(s)
        return super().save(state)


def test_a_lost_race_rereads_and_recomputes_that_user() -> None:
    rival = [event(10, event_id="rival", amount=500.0)]
    ours = [event(20, event_id="ours", amount=20.0), event(30, user="u-other")]
    store = RacingStore(rival)
    features, dups, writes, conflicts = update_state(store, ours)
    assert conflicts == 1 and writes == 2 and dups == [False, False]
    assert features[0].count_1m == 2  # recomputed: the rival's event is in our window now
    assert features[0].amount_sum_1m == 520.0
    final = store.load(["u-1"])["u-1"]
    assert [e[1] for e in final.history] == [event_key("rival"), event_key("ours")] and final.version == 2


def test_endless_conflicts_fail_the_batch() -> None:
    store = RacingStore([event(10 + k) for k in range(10)], rounds=10)
    with pytest.raises(StateConflictError):
        update_state(store, [event(20)])


def test_score_events_writes_each_user_once_and_counts_duplicates() -> None:
    store = InMemoryStateStore()
    events = [event(t, user=u) for t in range(3) for u in ("a", "b")]
    batch = score_events(store, RulesScorer(), events)
    assert (batch.writes, batch.duplicates, store.writes) == (2, 0, 2)
    again = score_events(store, RulesScorer(), events)
    assert (again.writes, again.duplicates, store.writes) == (0, 6, 2)
    assert [s.features for s in again.scored] == [s.features for s in batch.scored]
    assert [s.score for s in again.scored] == [s.score for s in batch.scored]
    assert score_events(store, RulesScorer(), []).scored == []


def test_item_sizes_and_units_follow_dynamodb_rules() -> None:
    # Names count, values by their encoded length; numbers by significant digits.
    item = {"user_id": {"S": "u-é"}, "state": {"B": b"x" * 1000}, "version": {"N": "12300"}}
    assert units.item_size(item) == 7 + 4 + 5 + 1000 + 7 + 3
    assert units.number_size("0") == 2 and units.number_size("-1234.5") == 4
    assert units.write_units(1024) == 1.0 and units.write_units(1025) == 2.0
    assert units.write_units(10, previous_size=3000) == 3.0  # the larger of before and after
    assert units.read_units(0) == 1.0 and units.read_units(4097) == 2.0
    assert units.read_units(4097, consistent=False) == 1.0


def test_both_stores_bill_the_same_units(ddb: Any) -> None:
    """The in-memory store bills what DynamoDB (moto, same items) would: the bench relies on it."""
    stores = [InMemoryStateStore(), DynamoStateStore(ddb, TABLE, ttl_days=30)]
    batches = [[event(60 * k + t, user=u) for t in range(5) for u in ("a", "b", "c")] for k in range(20)]
    for store in stores:
        for batch in batches:
            update_state(store, batch)
    memory, dynamo = stores
    assert memory.write_units == dynamo.write_units > 60  # some items grew past 1 KB
    assert memory.read_units == dynamo.read_units >= 60
    items = {i["user_id"]["S"]: i for i in ddb.scan(TableName=TABLE)["Items"]}
    assert items.keys() == memory.items.keys()
    assert {u: units.item_size(i) for u, i in items.items()} == {u: units.item_size(i) for u, i in memory.items.items()}
