"""riskctl against moto: produce, replay from the raw archive, redrive with its dry run."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from risk.events.codec import encode_avro
from tools.cli.redrive import redrive
from tools.cli.replay import parse_lines
from tools.local.context import FakeLambdaContext
from tools.local.kinesis import KinesisPoller, RawArchiver
from tools.local.provision import LocalResources
from tools.riskctl import main, send_paced


def _stream_records(resources: LocalResources) -> list[bytes]:
    kinesis = boto3.client("kinesis", region_name=resources.region)
    out: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=resources.stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=resources.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out += [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]]
    return out


def test_produce_sends_file_lines_byte_for_byte(resources: LocalResources, tmp_path: Path) -> None:
    lines = [b'{"event_id": "e1", "user_id": "u1"}', b"not json at all", b'{"event_id":"e2","user_id":"u2"}']
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    out = io.StringIO()
    code = main(
        ["--region", resources.region, "produce", "--stream", resources.stream_name, "--file", str(path)], out=out
    )
    assert code == 0
    assert sorted(_stream_records(resources)) == sorted(lines)
    assert "put 3 records" in out.getvalue()


def test_send_paced_keeps_the_rate_without_real_waiting(resources: LocalResources) -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    kinesis = boto3.client("kinesis", region_name=resources.region)
    sent = send_paced(
        kinesis, resources.stream_name, (b"x%d" % i for i in range(250)), rate=100, sleep=sleep, clock=lambda: now[0]
    )
    assert sent == 250
    assert now[0] == 2.5  # 250 records at 100/s: batches of 100, each followed by the wait it owes
    assert len(_stream_records(resources)) == 250


def _archive(resources: LocalResources, payloads: list[bytes]) -> None:
    kinesis = boto3.client("kinesis", region_name=resources.region)
    kinesis.put_records(
        StreamName=resources.stream_name, Records=[{"Data": p, "PartitionKey": str(i)} for i, p in enumerate(payloads)]
    )
    poller = KinesisPoller(
        kinesis,
        boto3.client("sqs", region_name=resources.region),
        stream_name=resources.stream_name,
        stream_arn=resources.stream_arn,
        source=resources.cfg.kinesis_source,
        handler=lambda event, context: {"batchItemFailures": []},
        context=FakeLambdaContext("parse", 512, 60),
        on_failure_queue_url=resources.queue_urls["parse-failures"],
        archiver=RawArchiver(boto3.client("s3", region_name=resources.region), resources.bucket, resources.stream_name),
    )
    while poller.poll_once():
        pass


def test_replay_puts_the_archived_range_back_on_the_stream(resources: LocalResources) -> None:
    payloads = [json.dumps({"event_id": f"e{i}", "user_id": f"u{i % 3}"}).encode() for i in range(20)]
    _archive(resources, payloads)
    now = datetime.now(UTC)
    window = ["--from", (now - timedelta(hours=1)).isoformat(), "--to", (now + timedelta(minutes=1)).isoformat()]
    common = ["--region", resources.region, "replay", "--bucket", resources.bucket, "--stream", resources.stream_name]

    out = io.StringIO()
    assert main([*common, *window, "--dry-run"], out=out) == 0
    assert "dry run: 20 records" in out.getvalue()
    assert len(_stream_records(resources)) == 20

    earlier = ["--from", (now - timedelta(hours=3)).isoformat(), "--to", (now - timedelta(hours=1)).isoformat()]
    assert main([*common, *earlier], out=io.StringIO()) == 0
    assert len(_stream_records(resources)) == 20  # nothing arrived then

    assert main([*common, *window], out=io.StringIO()) == 0
    assert sorted(_stream_records(resources)) == sorted(payloads * 2)


def _depth(sqs: object, url: str) -> int:
    return int(
        sqs.get_queue_attributes(  # type: ignore[attr-defined]
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
    )


def test_redrive_dry_run_moves_nothing_then_redrive_moves_everything_back(resources: LocalResources) -> None:
    sqs = boto3.client("sqs", region_name=resources.region)
    dlq, source = resources.queue_urls["scored-dlq"], resources.queue_urls["scored"]
    for i in range(23):
        sqs.send_message(
            QueueUrl=dlq, MessageBody=f"m{i}", MessageAttributes={"a": {"DataType": "String", "StringValue": str(i)}}
        )

    out = io.StringIO()
    assert (
        main(["--region", resources.region, "redrive", "--dlq", "risk-scoring-dev-scored-dlq", "--dry-run"], out=out)
        == 0
    )
    assert "23 messages would move" in out.getvalue() and source in out.getvalue()
    assert (_depth(sqs, dlq), _depth(sqs, source)) == (23, 0)

    result = redrive(sqs, dlq)  # moto has no StartMessageMoveTask: the receive-and-resend fallback runs
    assert (result.method, result.messages, result.destination_url) == ("resend", 23, source)
    assert (_depth(sqs, dlq), _depth(sqs, source)) == (0, 23)
    moved = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert all(m["MessageAttributes"]["a"]["StringValue"] == m["Body"][1:] for m in moved)


def _event(event_id: str, at: str, lat: float, lon: float, **extra: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "user_id": "u1",
        "event_type": "payment",
        "occurred_at": at,
        "amount": 40.0,
        "currency": "EUR",
        "geo": {"lat": lat, "lon": lon},
        **extra,
    }


def test_score_prints_features_score_and_reasons_using_history(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(_event("h1", "2026-11-24T09:30:00Z", -33.87, 151.21)) + "\n")  # Sydney
    paris = json.dumps(_event("e1", "2026-11-24T10:00:00+00:00", 48.86, 2.35))
    out = io.StringIO()
    assert main(["score", paris, "--history", str(history), "--scorer", "rules"], out=out) == 0
    result = json.loads(out.getvalue())
    features = result["features"]
    assert 16_900 < features["distance_km"] < 17_000  # Sydney -> Paris
    assert features["speed_kmh"] > 900 and features["geo_flag"] is True
    assert features["count_1h"] == 2
    assert result["score"]["risk_band"] in ("medium", "high")
    assert result["score"]["reasons"]  # the rules that fired, by name


def test_score_reports_the_quarantine_reason_of_a_bad_event() -> None:
    out = io.StringIO()
    bad = json.dumps(_event("e1", "yesterday", 48.86, 2.35))
    assert main(["score", bad], out=out) == 2
    assert out.getvalue().startswith("quarantined: bad_timestamp")


def test_firehose_style_concatenated_records_are_split_by_their_structure() -> None:
    event = {"event_id": "e}1", "user_id": 'u"1', "event_type": "login", "occurred_at": "2026-11-24T10:00:00Z"}
    records = [
        json.dumps(event).encode(),
        encode_avro(event),
        b'{"nested": {"a": [1, {"b": "]"}]}}',
        encode_avro({**event, "event_id": "e2"}),
    ]
    blob = gzip.compress(b"".join(records) + b"\xff\xfegarbage" + records[0])
    split = [r.data for r in parse_lines(blob)]
    assert split[:4] == records
    assert split[4] == b"\xff\xfegarbage" + records[0]  # unsplittable from a malformed record on
