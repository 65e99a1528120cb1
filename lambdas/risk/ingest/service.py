"""The file ingest, without Lambda: one inbox file onto the stream, resumable, then moved with a report.

Files dropped under ``inbox/`` of the inbox bucket (JSON Lines or Avro object container files,
gzip accepted: ``risk.ingest.reader``) are read as a stream, a chunk of records at a time:

1. each record is validated by the parse stage's own parser (``risk.parse.parser.parse_record``):
   a bad one is quarantined with the same reason parse would give it (a ``stage: ingest`` line in
   the archive's ``quarantine/``, with the file and the record number), a good one is put on the
   stream **as it is** (a JSON line byte for byte: the event id is the producer's, never a new
   one) with its user id as partition key, in PutRecords batches (``risk.ingest.stream``);
2. the quarantine object of the chunk, then the checkpoint (``ingest-state/<key>.json``: the
   file's ETag and the position after the chunk) are written; a later invocation resumes there,
   never from the start. A crash between a put and its checkpoint sends at most one chunk again,
   which the pipeline's deduplication by event id absorbs; so does a whole file dropped twice;
3. when the function's time runs short the flow stops with ``continue`` (the handler queues a
   continuation message); at the end of the file it is moved to ``inbox/done/`` with a report
   (``<name>.report.json``: records, sent, quarantined by reason); a file that cannot be read at
   all (bad gzip, broken Avro container, an unregistered Avro schema) goes to ``inbox/failed/``
   with a report saying why.
"""

from __future__ import annotations

import base64
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from botocore.exceptions import ClientError

from risk.common import aws
from risk.common.archive import jsonl, quarantine_key
from risk.common.settings import ARCHIVE_BUCKET, CLOCK_SKEW_TOLERANCE_S, STREAM_NAME, env
from risk.events.limits import DEFAULT_CLOCK_SKEW_TOLERANCE_S
from risk.events.model import format_ts
from risk.ingest import reader, stream
from risk.parse.parser import PARSER_VERSION, Quarantined, parse_record

INBOX_PREFIX = "inbox/"
DONE_PREFIX = "inbox/done/"
FAILED_PREFIX = "inbox/failed/"
CHECKPOINT_PREFIX = "ingest-state/"
REPORT_SUFFIX = ".report.json"
CHUNK_RECORDS = 2_000  # records validated, put and checkpointed together
_HEAD_BYTES = 64 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def is_inbox_file(key: str) -> bool:
    """A file to ingest: under inbox/, not one already moved there (done/, failed/), not a report."""
    return (
        key.startswith(INBOX_PREFIX)
        and not key.startswith((DONE_PREFIX, FAILED_PREFIX))
        and not key.endswith(("/", REPORT_SUFFIX))
    )


def moved_key(key: str, done: bool) -> str:
    return (DONE_PREFIX if done else FAILED_PREFIX) + key.removeprefix(INBOX_PREFIX)


def checkpoint_key(key: str) -> str:
    return CHECKPOINT_PREFIX + key + ".json"


@dataclass
class IngestDependencies:
    s3: Any
    kinesis: Any
    stream_name: str
    archive_bucket: str
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S

    @classmethod
    def from_environment(cls) -> IngestDependencies:
        return cls(
            s3=aws.client("s3"),
            kinesis=aws.client("kinesis"),
            stream_name=env(STREAM_NAME),
            archive_bucket=env(ARCHIVE_BUCKET),
            clock_skew_tolerance_s=float(env(CLOCK_SKEW_TOLERANCE_S, str(DEFAULT_CLOCK_SKEW_TOLERANCE_S))),
        )


@dataclass
class Checkpoint:
    """What a later invocation needs to go on where this one stopped (and to report on the whole file)."""

    etag: str
    position: reader.Position = field(default_factory=reader.Position)
    sent: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    started_at: str = ""
    invocations: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "etag": self.etag,
                "position": self.position.to_dict(),
                "sent": self.sent,
                "quarantined": dict(sorted(self.quarantined.items())),
                "started_at": self.started_at,
                "invocations": self.invocations,
            }
        )

    @classmethod
    def from_json(cls, body: bytes) -> Checkpoint:
        doc = orjson.loads(body)
        return cls(
            etag=str(doc["etag"]),
            position=reader.Position.from_dict(doc.get("position", {})),
            sent=int(doc.get("sent", 0)),
            quarantined=Counter({str(k): int(v) for k, v in doc.get("quarantined", {}).items()}),
            started_at=str(doc.get("started_at", "")),
            invocations=int(doc.get("invocations", 0)),
        )


@dataclass
class IngestOutcome:
    bucket: str
    key: str
    status: str  # done, failed, continue, skipped
    detail: str = ""
    sent_now: int = 0  # events put on the stream by this invocation
    quarantined_now: Counter[str] = field(default_factory=Counter)
    checkpoint: Checkpoint | None = None
    report_key: str | None = None


def ingest_file(
    deps: IngestDependencies,
    bucket: str,
    key: str,
    *,
    time_left_s: Callable[[], float],
    reserve_s: float = 2 * aws.WORST_CASE_CALL_S,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> IngestOutcome:
    """Ingest ``key`` from its checkpoint on until it ends or fewer than ``reserve_s`` seconds remain."""
    if not is_inbox_file(key):
        return IngestOutcome(bucket, key, "skipped", "not a file to ingest (outside inbox/, or done/, failed/, report)")
    try:
        head = deps.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _not_found(exc):  # moved by an earlier delivery of the same notification
            return IngestOutcome(bucket, key, "skipped", "no longer in the inbox (already ingested)")
        raise
    etag = str(head["ETag"]).strip('"')
    checkpoint = _load_checkpoint(deps.s3, bucket, key, etag) or Checkpoint(etag, started_at=format_ts(now()))
    checkpoint.invocations += 1
    outcome = IngestOutcome(bucket, key, "continue", checkpoint=checkpoint)

    def opener(first_byte: int) -> Any:
        if first_byte >= int(head.get("ContentLength", 0)):
            return io.BytesIO(b"")  # nothing left (S3 refuses a range that starts at the end)
        extra = {"Range": f"bytes={first_byte}-"} if first_byte else {}
        return deps.s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"], **extra)["Body"]

    try:
        fmt = reader.sniff(_head(deps.s3, bucket, key, head))
        records = reader.records(opener, fmt, checkpoint.position)
        for n, chunk in enumerate(_chunks(records)):
            if n and time_left_s() < reserve_s:  # at least one chunk per invocation: always progress
                outcome.detail = f"stopped at record {checkpoint.position.index} to resume in the next invocation"
                return outcome
            _handle_chunk(deps, key, chunk, checkpoint, outcome, at=now(), sleep=sleep)
            deps.s3.put_object(Bucket=bucket, Key=checkpoint_key(key), Body=checkpoint.to_json())
    except reader.UnreadableFileError as exc:
        return _finish(deps, outcome, done=False, detail=str(exc), fmt=None, at=now())
    return _finish(deps, outcome, done=True, detail="", fmt=fmt.name, at=now())


def _head(s3: Any, bucket: str, key: str, head: dict[str, Any]) -> bytes:
    """The first bytes of the file, enough to tell its format."""
    if not head.get("ContentLength"):
        return b""
    response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{_HEAD_BYTES - 1}", IfMatch=head["ETag"])
    data: bytes = response["Body"].read()
    return data


def _chunks(records: Iterator[reader.FileRecord]) -> Iterator[list[reader.FileRecord]]:
    chunk: list[reader.FileRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == CHUNK_RECORDS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _handle_chunk(
    deps: IngestDependencies,
    key: str,
    chunk: list[reader.FileRecord],
    checkpoint: Checkpoint,
    outcome: IngestOutcome,
    *,
    at: datetime,
    sleep: Callable[[float], None],
) -> None:
    """Validate, quarantine the bad, put the good; raises on an AWS failure (the checkpoint stays behind)."""
    entries: list[stream.Entry] = []
    bad: list[dict[str, Any]] = []
    for record in chunk:
        result = parse_record(
            record.data,
            sequence_number="",
            arrival=at,
            clock_skew_tolerance_s=deps.clock_skew_tolerance_s,
        )
        if isinstance(result, Quarantined):
            bad.append(_quarantine_line(result, key, record.index, at))
        else:
            entries.append(stream.Entry(record.data, result.user_id))
    if bad:  # first: a bad record is never dropped silently, even if the puts then fail
        name = f"ingest-{_UNSAFE.sub('_', key)}-{chunk[0].index}-{chunk[-1].index}"
        deps.s3.put_object(
            Bucket=deps.archive_bucket,
            Key=quarantine_key(at, name),
            Body=jsonl(bad),
            ContentType="application/x-ndjson",
        )
    if entries:
        stream.put_records(deps.kinesis, deps.stream_name, entries, sleep=sleep)
    reasons = Counter(str(line["reason"]) for line in bad)
    checkpoint.position = chunk[-1].after
    checkpoint.sent += len(entries)
    checkpoint.quarantined.update(reasons)
    outcome.sent_now += len(entries)
    outcome.quarantined_now.update(reasons)


def _quarantine_line(item: Quarantined, key: str, index: int, at: datetime) -> dict[str, Any]:
    """A parse-shaped quarantine line (same reasons, same replay), located by file and record number."""
    return {
        "stage": "ingest",
        "reason": item.reason.value,
        "detail": item.detail,
        "raw_b64": base64.b64encode(item.raw).decode("ascii"),
        "sequence_number": None,
        "sub_sequence_number": None,
        "source_key": key,
        "record_index": index,
        "event_id": item.event_id,
        "arrival_time": format_ts(item.arrival),
        "quarantined_at": format_ts(at),
        "parser_version": PARSER_VERSION,
    }


def _finish(
    deps: IngestDependencies, outcome: IngestOutcome, *, done: bool, detail: str, fmt: str | None, at: datetime
) -> IngestOutcome:
    """Move the file to done/ or failed/ with its report, then drop the checkpoint."""
    checkpoint = outcome.checkpoint
    assert checkpoint is not None
    bucket, key = outcome.bucket, outcome.key
    target = moved_key(key, done)
    report = {
        "file": key,
        "moved_to": target,
        "status": "done" if done else "failed",
        "detail": detail,
        "format": fmt,
        "etag": checkpoint.etag,
        "records": checkpoint.position.index,
        "sent": checkpoint.sent,
        "quarantined": dict(sorted(checkpoint.quarantined.items())),
        "started_at": checkpoint.started_at,
        "finished_at": format_ts(at),
        "invocations": checkpoint.invocations,
    }
    report_key = target + REPORT_SUFFIX
    body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    deps.s3.put_object(Bucket=bucket, Key=report_key, Body=body, ContentType="application/json")
    deps.s3.copy({"Bucket": bucket, "Key": key}, bucket, target)  # managed: multipart above 5 GB
    deps.s3.delete_object(Bucket=bucket, Key=key)
    deps.s3.delete_object(Bucket=bucket, Key=checkpoint_key(key))
    outcome.status = "done" if done else "failed"
    outcome.detail = detail
    outcome.report_key = report_key
    return outcome


def _load_checkpoint(s3: Any, bucket: str, key: str, etag: str) -> Checkpoint | None:
    """The checkpoint of this very file (same ETag); a new file under an old name starts over."""
    try:
        body = s3.get_object(Bucket=bucket, Key=checkpoint_key(key))["Body"].read()
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    checkpoint = Checkpoint.from_json(body)
    return checkpoint if checkpoint.etag == etag else None


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


# -- the messages that start an ingest -----------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    bucket: str
    key: str


def files_of_message(body: str) -> list[FileRef]:
    """The files an SQS message names: an S3 event notification, or this function's continuation.

    A test event (``s3:TestEvent``, sent when the notification is set up) names none.
    """
    from urllib.parse import unquote_plus  # noqa: PLC0415

    doc = orjson.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("the message is not a JSON object")
    if "continue" in doc:
        ref = doc["continue"]
        return [FileRef(str(ref["bucket"]), str(ref["key"]))]
    out: list[FileRef] = []
    for record in doc.get("Records", []):
        s3 = record.get("s3", {})
        out.append(FileRef(str(s3["bucket"]["name"]), unquote_plus(str(s3["object"]["key"]))))
    return out


def continuation(ref: FileRef) -> str:
    """The message that makes the next invocation resume ``ref`` from its checkpoint."""
    return orjson.dumps({"continue": {"bucket": ref.bucket, "key": ref.key}}).decode()
