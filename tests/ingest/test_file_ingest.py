"""The file ingest on moto: inbox files (JSON Lines, Avro containers, gzip) onto the stream, the bad
records quarantined with parse's reasons, resumable from its checkpoint, moved with a report; and
the handler fed by the S3 notification moto's S3 sends to SQS."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import fastavro
import pytest
from moto import mock_aws

from risk.common.archive import read_jsonl
from risk.events import avro
from risk.events.codec import encode_json, to_avro_record
from risk.events.model import RiskEvent
from risk.ingest import reader, service
from risk.ingest.service import IngestDependencies, ingest_file
from risk.parse import quarantine
from risk.parse.parser import parse_record
from tools.local.context import FakeLambdaContext

REGION = "eu-west-1"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INBOX, ARCHIVE, STREAM = "risk-scoring-test-inbox", "risk-scoring-test-archive", "risk-scoring-test-events"


def _event(i: int, **overrides: Any) -> dict[str, Any]:
    doc = {
        "event_id": f"evt-{i:05d}",
        "user_id": f"user-{i % 11}",
        "event_type": "payment",
        "occurred_at": "2024-05-01T11:00:00Z",
        "amount": 10.5 + i,
        "currency": "EUR",
        "country": "DE",
        "channel": "app",
    }
    return doc | overrides


@dataclass
class Env:
    s3: Any
    kinesis: Any
    sqs: Any
    queue_url: str
    deps: IngestDependencies

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=INBOX, Key=key, Body=body)

    def stream(self) -> list[tuple[str, bytes]]:
        """(partition key, data) of every record on the stream, shard by shard."""
        out: list[tuple[str, bytes]] = []
        for shard in self.kinesis.list_shards(StreamName=STREAM)["Shards"]:
            it = self.kinesis.get_shard_iterator(
                StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            out += [(r["PartitionKey"], r["Data"]) for r in self.kinesis.get_records(ShardIterator=it)["Records"]]
        return out

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]

    def quarantined(self) -> list[dict[str, Any]]:
        return [
            line
            for key in self.keys(ARCHIVE, "quarantine/")
            for line in read_jsonl(self.s3.get_object(Bucket=ARCHIVE, Key=key)["Body"].read())
        ]

    def report(self, key: str) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.s3.get_object(Bucket=INBOX, Key=key)["Body"].read())
        return body


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (INBOX, ARCHIVE):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="risk-scoring-test-ingest")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=INBOX,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}},
                    }
                ]
            },
        )
        deps = IngestDependencies(s3=s3, kinesis=kinesis, stream_name=STREAM, archive_bucket=ARCHIVE)
        yield Env(s3, kinesis, sqs, queue_url, deps)


def _ingest(env: Env, key: str, time_left: float = 900.0) -> service.IngestOutcome:
    return ingest_file(env.deps, INBOX, key, time_left_s=lambda: time_left, now=lambda: NOW, sleep=lambda _: None)


def _lines(n: int) -> list[bytes]:
    return [encode_json(_event(i)) for i in range(n)]


def _avro_file(docs: list[dict[str, Any]], schema: Any = None, codec: str = "deflate") -> bytes:
    out = io.BytesIO()
    fastavro.writer(
        out, schema or avro.latest().parsed, [to_avro_record(d) for d in docs], codec=codec, sync_interval=2000
    )
    return out.getvalue()


def _avro_declaring_codec(codec: str) -> bytes:
    """A container whose header names ``codec`` (a writer of it needs a native library we do not ship)."""
    body = _avro_file([_event(1)], codec="null")
    declared = b"avro.codec\x08null"  # the header's map entry: the value's length (zigzag 4), then the name
    assert body.count(declared) == 1
    return body.replace(declared, b"avro.codec" + bytes([2 * len(codec)]) + codec.encode())


BAD_LINES = [
    (b"{not json", "not_json"),
    (encode_json(_event(900, country="ZZ")), "bad_country"),
    (b"[1, 2]", "not_an_object"),
    (encode_json({k: v for k, v in _event(901).items() if k != "user_id"}), "missing_field"),
]


def test_a_json_lines_file_goes_on_the_stream_byte_for_byte_and_moves_to_done_with_a_report(env: Env) -> None:
    good = _lines(30)
    body = b"\n".join(good[:10]) + b"\n\n" + BAD_LINES[0][0] + b"\r\n" + b"\n".join(good[10:])  # no final newline
    body += b"\n" + b"\n".join(line for line, _ in BAD_LINES[1:])
    env.put("inbox/batch-1.jsonl", body)

    outcome = _ingest(env, "inbox/batch-1.jsonl")

    assert outcome.status == "done" and outcome.sent_now == 30
    stream = env.stream()
    assert sorted(data for _, data in stream) == sorted(good)  # as they were in the file: ids not reinvented
    assert all(json.loads(data)["user_id"] == key for key, data in stream)  # partition key = user id
    lines = env.quarantined()
    assert sorted((line["reason"], line["record_index"]) for line in lines) == [
        ("bad_country", 31),
        ("missing_field", 33),
        ("not_an_object", 32),
        ("not_json", 10),
    ]
    for line in lines:  # the reason parse gives the same bytes, and the bytes kept whole
        raw = base64.b64decode(line["raw_b64"])
        parsed = parse_record(raw, sequence_number="0", arrival=NOW)
        assert not isinstance(parsed, RiskEvent) and parsed.reason == line["reason"]
        assert line["stage"] == "ingest" and line["source_key"] == "inbox/batch-1.jsonl"
    assert env.keys(INBOX) == ["inbox/done/batch-1.jsonl", "inbox/done/batch-1.jsonl.report.json"]
    assert env.s3.get_object(Bucket=INBOX, Key="inbox/done/batch-1.jsonl")["Body"].read() == body
    report = env.report("inbox/done/batch-1.jsonl.report.json")
    assert report["status"] == "done" and report["format"] == "jsonl"
    assert (report["records"], report["sent"]) == (34, 30)
    assert report["quarantined"] == {"bad_country": 1, "missing_field": 1, "not_an_object": 1, "not_json": 1}


def test_quarantine_lines_of_a_file_replay_like_parse_lines(env: Env) -> None:
    env.put("inbox/bad.jsonl", b"\n".join(line for line, _ in BAD_LINES))
    _ingest(env, "inbox/bad.jsonl")
    body = b"".join(json.dumps(line).encode() + b"\n" for line in env.quarantined())
    result = quarantine.replay(body + body)  # written twice: each record replayed once
    assert sorted(q.reason for q in result.still_bad) == sorted(reason for _, reason in BAD_LINES)


@pytest.mark.parametrize("codec", reader.AVRO_CODECS)
@pytest.mark.parametrize("compressed", [False, True])
def test_an_avro_container_file_gives_the_events_parse_gives_for_json(env: Env, compressed: bool, codec: str) -> None:
    docs = [_event(i) for i in range(40)]
    body = _avro_file(docs, codec=codec)
    env.put("inbox/day.avro", gzip.compress(body) if compressed else body)

    outcome = _ingest(env, "inbox/day.avro")

    assert outcome.status == "done" and outcome.sent_now == 40
    events = [parse_record(data, sequence_number="0", arrival=NOW) for _, data in env.stream()]
    assert all(avro.is_avro(data) for _, data in env.stream())
    expected = [parse_record(encode_json(d), sequence_number="0", arrival=NOW) for d in docs]
    assert sorted(e.to_dict()["event_id"] for e in events if isinstance(e, RiskEvent)) == [d["event_id"] for d in docs]
    by_id = {e.event_id: e.to_dict() for e in events if isinstance(e, RiskEvent)}
    assert all(by_id[e.event_id] == e.to_dict() for e in expected if isinstance(e, RiskEvent))
    assert env.report("inbox/done/day.avro.report.json")["format"] == ("avro+gzip" if compressed else "avro")


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "avro", "avro.gz"])
def test_a_file_resumes_from_its_checkpoint_and_puts_nothing_twice(
    env: Env, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK_RECORDS", 7)
    docs = [_event(i) for i in range(50)]
    body = _avro_file(docs) if kind.startswith("avro") else b"\n".join(encode_json(d) for d in docs) + b"\n"
    if kind.endswith(".gz"):
        body = gzip.compress(body)
    key = f"inbox/big.{kind}"
    env.put(key, body)
    ranges: list[str] = []
    original = env.s3.get_object

    def get_object(**kwargs: Any) -> Any:
        if kwargs["Key"] == key:
            ranges.append(kwargs.get("Range", "all"))
        return original(**kwargs)

    monkeypatch.setattr(env.s3, "get_object", get_object)

    statuses = []
    for _ in range(20):  # each invocation has time for one chunk
        outcome = _ingest(env, key, time_left=1.0)
        statuses.append(outcome.status)
        if outcome.status != "continue":
            break
        checkpoint = json.loads(env.s3.get_object(Bucket=INBOX, Key=service.checkpoint_key(key))["Body"].read())
        assert checkpoint["position"]["index"] == outcome.checkpoint.position.index  # type: ignore[union-attr]

    assert statuses == ["continue"] * 7 + ["done"]  # 50 records in chunks of 7: the 8th finishes
    ids = sorted(json.loads(data)["event_id"] if data[:1] == b"{" else _avro_id(data) for _, data in env.stream())
    assert ids == [d["event_id"] for d in docs]  # every event once: resumed, not restarted
    if kind == "jsonl":  # a plain file is read from where it stopped, not from its start
        assert [r for r in ranges if r.startswith("bytes=") and not r.startswith("bytes=0-")]
    report = env.report(f"inbox/done/big.{kind}.report.json")
    assert (report["records"], report["sent"], report["invocations"]) == (50, 50, 8)
    assert service.checkpoint_key(key) not in env.keys(INBOX)


def _avro_id(data: bytes) -> str:
    parsed = parse_record(data, sequence_number="0", arrival=NOW)
    assert isinstance(parsed, RiskEvent)
    return parsed.event_id


def test_a_crash_mid_file_resumes_at_the_last_checkpoint(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CHUNK_RECORDS", 10)
    env.put("inbox/crash.jsonl", b"\n".join(_lines(45)))
    original = service.stream.put_records
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("the stream went away")
        return original(*args, **kwargs)

    monkeypatch.setattr(service.stream, "put_records", flaky)
    with pytest.raises(ConnectionError):
        _ingest(env, "inbox/crash.jsonl")
    assert len(env.stream()) == 20  # two chunks in; the checkpoint says so
    assert _ingest(env, "inbox/crash.jsonl").status == "done"
    assert sorted(data for _, data in env.stream()) == sorted(_lines(45))


def test_a_new_file_under_a_checkpointed_name_starts_over(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CHUNK_RECORDS", 5)
    env.put("inbox/f.jsonl", b"\n".join(_lines(12)))
    assert _ingest(env, "inbox/f.jsonl", time_left=1.0).status == "continue"
    replacement = [encode_json(_event(i)) for i in range(100, 104)]
    env.put("inbox/f.jsonl", b"\n".join(replacement))  # another ETag: the checkpoint is not its own
    assert _ingest(env, "inbox/f.jsonl").status == "done"
    assert sorted(data for _, data in env.stream()) == sorted(_lines(5) + replacement)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (gzip.compress(b"\n".join(_lines(3)))[:-12] + b"\x00" * 12, "gzip stream is damaged"),
        (_avro_file([_event(1)], schema={"type": "record", "name": "Other", "fields": []}), "not a registered"),
        (b"Obj\x01garbage", "not a readable Avro container"),
        (_avro_declaring_codec("snappy"), "Avro codec 'snappy' is not supported: write it with one of null, deflate"),
        (gzip.compress(_avro_declaring_codec("zstandard")), "Avro codec 'zstandard' is not supported"),
    ],
)
def test_an_unreadable_file_goes_to_failed_with_a_report_saying_why(env: Env, body: bytes, detail: str) -> None:
    env.put("inbox/x.bin", body)
    outcome = _ingest(env, "inbox/x.bin")
    assert outcome.status == "failed" and detail in outcome.detail
    assert env.keys(INBOX) == ["inbox/failed/x.bin", "inbox/failed/x.bin.report.json"]
    report = env.report("inbox/failed/x.bin.report.json")
    assert report["status"] == "failed" and detail in report["detail"]


def test_the_same_file_twice_sends_the_same_event_ids_and_moved_files_are_not_ingested(env: Env) -> None:
    body = b"\n".join(_lines(8))
    env.put("inbox/twice.jsonl", body)
    assert _ingest(env, "inbox/twice.jsonl").status == "done"
    assert _ingest(env, "inbox/twice.jsonl").status == "skipped"  # a repeated notification: already moved
    env.put("inbox/twice.jsonl", body)
    assert _ingest(env, "inbox/twice.jsonl").status == "done"
    ids = [json.loads(data)["event_id"] for _, data in env.stream()]
    assert sorted(ids) == sorted(2 * [f"evt-{i:05d}" for i in range(8)])  # each id twice, none new
    for key in ("inbox/done/twice.jsonl", "inbox/done/twice.jsonl.report.json", "inbox/failed/a", "other/a.jsonl"):
        assert _ingest(env, key).status == "skipped"


def test_the_handler_ingests_what_the_s3_notification_names_and_continues_itself(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from risk.ingest import handler  # noqa: PLC0415

    monkeypatch.setattr(service, "CHUNK_RECORDS", 10)
    monkeypatch.setenv("INGEST_QUEUE_URL", env.queue_url)
    monkeypatch.setattr(handler, "_clients", (env.deps, env.sqs))
    env.put("inbox/2024/05/01 part=1.jsonl", b"\n".join(_lines(25)))  # a key S3 URL-encodes in the event
    context = FakeLambdaContext("risk-scoring-test-ingest", 1024, 900)
    monkeypatch.setattr(context, "get_remaining_time_in_millis", lambda: 1_000)  # one chunk per invocation

    rounds = 0
    while messages := env.sqs.receive_message(QueueUrl=env.queue_url, MaxNumberOfMessages=1).get("Messages", []):
        (message,) = messages
        event = {"Records": [{"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"}]}
        assert handler.lambda_handler(event, context) == {"batchItemFailures": []}
        env.sqs.delete_message(QueueUrl=env.queue_url, ReceiptHandle=message["ReceiptHandle"])
        rounds += 1
        assert rounds < 10

    # the notification (and the ones the moves made, which are skipped), then two continuations
    assert sorted(data for _, data in env.stream()) == sorted(_lines(25))
    assert "inbox/done/2024/05/01 part=1.jsonl.report.json" in env.keys(INBOX)
    assert env.report("inbox/done/2024/05/01 part=1.jsonl.report.json")["invocations"] == 3


def test_a_file_without_line_breaks_fails_instead_of_filling_memory(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from risk.ingest import reader  # noqa: PLC0415

    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 100_000)
    monkeypatch.setattr(reader, "_CHUNK", 64 * 1024)
    env.put("inbox/one-line.jsonl", encode_json(_event(1)) + b"\n" + b"x" * 300_000)
    outcome = _ingest(env, "inbox/one-line.jsonl")
    assert outcome.status == "failed" and "a line longer than 100000 bytes after record 1" in outcome.detail


def test_the_handler_logs_each_finished_file_as_the_metric_filters_read_it(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stacks/entry_monitoring.py counts files from these lines: message, status and environment."""
    from risk.ingest import handler  # noqa: PLC0415

    monkeypatch.setenv("INGEST_QUEUE_URL", env.queue_url)
    monkeypatch.setenv("RISK_ENVIRONMENT", "test")
    monkeypatch.setattr(handler, "_clients", (env.deps, env.sqs))
    stream = io.StringIO()
    previous = handler.logger.registered_handler.setStream(stream)
    try:
        env.put("inbox/ok.jsonl", b"\n".join(_lines(3)))
        env.put("inbox/bad.avro", b"Obj\x01garbage")
        for key in ("inbox/ok.jsonl", "inbox/bad.avro"):
            body = json.dumps({"Records": [{"s3": {"bucket": {"name": INBOX}, "object": {"key": key}}}]})
            event = {"Records": [{"messageId": key, "body": body, "eventSource": "aws:sqs"}]}
            handler.lambda_handler(event, FakeLambdaContext("risk-scoring-test-ingest", 1024, 900))
    finally:
        handler.logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    finished = [(line["status"], line["environment"]) for line in lines if line.get("message") == "file ingest"]
    assert finished == [("done", "test"), ("failed", "test")]
