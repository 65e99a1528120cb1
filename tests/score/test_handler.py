"""The score handler end to end: real SQS event shapes, moto DynamoDB and SQS, the checked-in model."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from risk.common import publish, settings, telemetry
from risk.common.archive import read_jsonl
from risk.common.envelope import unpack
from risk.events.model import RiskEvent
from risk.parse import quarantine
from risk.score import handler
from risk.score.model import ScoredEvent
from risk.score.scorers import load_scorer
from risk.score.service import score_events
from risk.score.store import InMemoryStateStore
from tests.score.conftest import LONDON, PARIS, FakeContext, event, sqs_event
from tests.score.test_store import REGION, TABLE, create_table

QUEUE = "risk-scoring-test-scored"
BUCKET = "risk-scoring-test-archive"


@dataclass
class Aws:
    sqs: Any
    s3: Any
    ddb: Any
    queue_url: str
    calls: Counter[str]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        for name, value in {
            settings.STATE_TABLE: TABLE,
            settings.STATE_TTL_DAYS: "30",
            settings.SCORED_QUEUE_URL: url,
            settings.ARCHIVE_BUCKET: BUCKET,
            settings.SCORER: "logistic",
            settings.MODEL_FILE: "lr-v1.json",
            settings.SHADOW_SCORERS: "",  # none (tests/score/test_shadows.py sets some)
            settings.MEDIUM_THRESHOLD: "0.3",
            settings.HIGH_THRESHOLD: "0.7",
            settings.ENVIRONMENT: "test",
        }.items():
            monkeypatch.setenv(name, value)
        handler.dependencies.cache_clear()  # a fresh container
        calls: Counter[str] = Counter()
        store_client = handler.dependencies().store._client  # type: ignore[attr-defined]
        store_client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
        yield Aws(sqs, s3, ddb, url, calls)
        handler.dependencies.cache_clear()


def invoke(event_: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(event_, FakeContext())


def drain(aws: Aws) -> list[ScoredEvent]:
    out = []
    while True:
        msgs = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.extend(ScoredEvent.from_dict(item) for item in unpack(m["Body"]))
            aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])


def emitted(capsys: pytest.CaptureFixture[str]) -> Counter[tuple[str, ...]]:
    """EMF documents printed by Powertools: value per (metric, dimension values...)."""
    totals: Counter[tuple[str, ...]] = Counter()
    for line in capsys.readouterr().out.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == telemetry.NAMESPACE
            dims = [d for group in directive["Dimensions"] for d in group]
            for metric in directive["Metrics"]:
                extra = tuple(str(doc[d]) for d in dims if d not in telemetry.BASE_DIMENSIONS)
                assert doc["environment"] == "test" and doc["service"] == telemetry.SERVICE
                value = doc[metric["Name"]]
                totals[(metric["Name"], *extra)] += sum(value) if isinstance(value, list) else value
    return totals


def journey() -> tuple[list[RiskEvent], list[RiskEvent]]:
    a = [
        event(0, user="alice", amount=30.0, geo=PARIS),
        event(600, user="alice", amount=35.0, geo=LONDON),  # 343 km in 10 min: impossible travel
        event(5, user="bob", amount=12.0),
    ]
    b = [event(30 + k, user="carol", amount=1.0, device="dev-x") for k in range(9)]  # card testing
    return a, b


def test_a_batch_is_scored_forwarded_and_written_once_per_user(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = journey()
    assert invoke(sqs_event(first, second)) == {"batchItemFailures": []}
    scored = drain(aws)
    assert sorted(s.event.event_id for s in scored) == sorted(e.event_id for e in first + second)
    assert aws.calls == Counter({"BatchGetItem": 1, "PutItem": 3})  # three users: three writes
    by_id = {s.event.event_id: s for s in scored}
    travel = by_id[first[1].event_id]
    assert travel.features.geo_flag and "IMPOSSIBLE_TRAVEL" in travel.score.reasons
    assert travel.score.model_version == "lr-v1"
    assert "CARD_TESTING" in by_id[second[-1].event_id].score.reasons
    metrics = emitted(capsys)
    assert metrics[(telemetry.EVENTS_SCORED.name,)] == 12
    assert metrics[(telemetry.DUPLICATE_EVENTS_SKIPPED.name,)] == 0
    by_band = {k[1:]: v for k, v in metrics.items() if k[0] == telemetry.SCORED_BY_BAND.name}
    assert sum(by_band.values()) == 12 and all(version == "lr-v1" for _, version in by_band)
    flagged = sum(v for (band, _), v in by_band.items() if band != "low")
    assert metrics[(telemetry.EVENTS_FLAGGED.name,)] == flagged


def test_a_redelivered_batch_forwards_the_same_scores_without_writing(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = journey()
    invoke(sqs_event(first, second))
    original = {s.event.event_id: s for s in drain(aws)}
    aws.calls.clear()
    capsys.readouterr()
    assert invoke(sqs_event(second[::-1], first)) == {"batchItemFailures": []}  # redelivered, reordered
    again = {s.event.event_id: s for s in drain(aws)}
    assert again == original
    assert aws.calls == Counter({"BatchGetItem": 1})  # nothing changed: nothing written
    assert emitted(capsys)[(telemetry.DUPLICATE_EVENTS_SKIPPED.name,)] == 12


def test_a_malformed_message_fails_alone(aws: Aws) -> None:
    first, _ = journey()
    no_user = first[2].to_dict()
    del no_user["user_id"]
    response = invoke(sqs_event("not an envelope", first, '{"v":2,"items":[]}'))
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["m-0", "m-2"]
    assert sorted(s.event.event_id for s in drain(aws)) == sorted(e.event_id for e in first)


def quarantined(aws: Aws) -> list[dict[str, Any]]:
    listed = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/").get("Contents", [])
    return [line for o in listed for line in read_jsonl(aws.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())]


def test_an_item_that_is_not_an_event_is_quarantined_and_its_neighbours_go_on(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = journey()
    no_user = first[2].to_dict()
    del no_user["user_id"]
    body = '{"v":1,"items":[' + ",".join([json.dumps(e.to_dict()) for e in second[:3]] + [json.dumps(no_user)]) + "]}"
    assert invoke(sqs_event(first[:2], body)) == {"batchItemFailures": []}
    assert sorted(s.event.event_id for s in drain(aws)) == sorted(e.event_id for e in first[:2] + second[:3])
    (line,) = quarantined(aws)
    assert (line["stage"], line["reason"], line["message_id"]) == ("score", "score_error", "m-1")
    assert line["event_id"] == first[2].event_id and "not an event" in line["detail"]
    assert quarantine.replay(orjson.dumps(line) + b"\n").still_bad  # no user_id: replay says so
    assert emitted(capsys)[(telemetry.SCORE_EVENTS_QUARANTINED.name,)] == 1


def test_an_event_that_fails_to_score_is_quarantined_alone(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = journey()
    poison = second[4].event_id
    scorer = handler.dependencies().scorer
    original = scorer.score_batch

    def score_batch(events: Any, features: Any) -> Any:
        if any(e.event_id == poison for e in events):
            raise OverflowError("math range error")  # a bug met by one unusual event
        return original(events, features)

    monkeypatch.setattr(scorer, "score_batch", score_batch)
    assert invoke(sqs_event(first, second)) == {"batchItemFailures": []}
    assert sorted(s.event.event_id for s in drain(aws)) == sorted(
        e.event_id for e in first + second if e.event_id != poison
    )
    (line,) = quarantined(aws)
    assert (line["event_id"], line["message_id"]) == (poison, "m-1") and "OverflowError" in line["detail"]
    (replayed,) = quarantine.replay(orjson.dumps(line) + b"\n").events
    assert replayed == second[4]


def test_an_event_whose_features_are_not_finite_is_quarantined_alone(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = journey()
    scorer = handler.dependencies().scorer
    original = scorer.score_batch

    def score_batch(events: Any, features: Any) -> Any:
        scores = original(events, features)
        return [
            replace(s, score=math.nan) if e.event_id == first[1].event_id else s
            for e, s in zip(events, scores, strict=True)
        ]

    monkeypatch.setattr(scorer, "score_batch", score_batch)
    assert invoke(sqs_event(first)) == {"batchItemFailures": []}
    assert sorted(s.event.event_id for s in drain(aws)) == sorted([first[0].event_id, first[2].event_id])
    (line,) = quarantined(aws)
    assert line["event_id"] == first[1].event_id and "not finite" in line["detail"]


def test_a_state_store_failure_still_fails_the_batch_for_redelivery(aws: Aws) -> None:
    first, _ = journey()
    aws.ddb.delete_table(TableName=TABLE)
    response = invoke(sqs_event(first))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert quarantined(aws) == []  # an outage is not the events' fault: nothing set aside


def test_unsent_results_fail_their_messages_and_the_retry_matches_a_first_delivery(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish.time, "sleep", lambda _: None)
    first, second = journey()
    aws.sqs.delete_queue(QueueUrl=aws.queue_url)  # the send fails after the state was written
    response = invoke(sqs_event(first, second))
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["m-0", "m-1"]
    assert aws.calls["PutItem"] == 3
    aws.sqs.create_queue(QueueName=QUEUE)
    assert invoke(sqs_event(first, second)) == {"batchItemFailures": []}
    retried = {s.event.event_id: s for s in drain(aws)}
    reference = score_events(InMemoryStateStore(), load_scorer(), first + second)
    assert retried == {s.event.event_id: s for s in reference.scored}


def test_an_empty_or_all_bad_batch_touches_nothing(aws: Aws) -> None:
    assert invoke({"Records": []}) == {"batchItemFailures": []}
    assert invoke(sqs_event("{}")) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert aws.calls == Counter()


# ------------------------------------------------------------------ FIFO: a failure holds its group
def _grouped(event_: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    for record, group in zip(event_["Records"], groups, strict=True):
        record["attributes"]["MessageGroupId"] = group
    return event_


def test_a_malformed_message_fails_the_rest_of_its_group_unapplied_and_other_groups_go_on(aws: Aws) -> None:
    a_later = event(10, user="u-a", event_id="a-later")
    b_event = event(20, user="u-b", event_id="b-1")
    response = invoke(_grouped(sqs_event("not an envelope", [a_later], [b_event]), ["A", "A", "B"]))
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["m-0", "m-1"]
    assert [s.event.event_id for s in drain(aws)] == ["b-1"]
    state_users = {i["user_id"]["S"] for i in aws.ddb.scan(TableName=TABLE)["Items"]}
    assert state_users == {"u-b"}  # a-later waits for the message before it: not applied out of order


def test_an_unsent_message_fails_the_later_messages_of_its_group(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, other = event(0, event_id="x-1"), event(5, event_id="x-2"), event(9, user="u-9", event_id="y-1")
    original = publish.send_all

    def refuse_x1(sqs: Any, url: str, bodies: Any, **kw: Any) -> dict[int, str]:
        failed = original(sqs, url, bodies, **kw)
        return failed | {i: "Throttled" for i, b in enumerate(bodies) if "x-1" in b}

    monkeypatch.setattr(publish, "send_all", refuse_x1)
    response = invoke(_grouped(sqs_event([first], [second], [other]), ["G", "G", "H"]))
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["m-0", "m-1"]
    # Redelivered in order: duplicates now, recomputed as of their arrival, so the same features.
    monkeypatch.setattr(publish, "send_all", original)
    sent_before = {s.event.event_id: s for s in drain(aws)}
    again = invoke(_grouped(sqs_event([first], [second]), ["G", "G"]))
    assert again["batchItemFailures"] == []
    resent = {s.event.event_id: s for s in drain(aws)}
    assert set(resent) == {"x-1", "x-2"}
    assert resent["x-2"].features == sent_before["x-2"].features
    assert resent["x-1"].features.count_1m == 1  # as of its arrival: x-2 came after it
