"""A Kinesis event-source poller with Lambda's semantics, and the Firehose raw copy moto cannot make.

Per shard, in order: GetRecords up to ``batch_size``, invoke the handler with a real Kinesis event,
then, as Lambda does with ``ReportBatchItemFailures``:

* success (no ``batchItemFailures``): checkpoint past the batch;
* partial failure: checkpoint before the *lowest* failed sequence number and retry from there;
* an exception (or an unknown item identifier): retry the whole batch, bisected in two halves when
  ``bisect_on_error`` is set (each half keeps the attempt count of its parent);
* once a batch has failed ``retry_attempts`` retries, or its oldest record is older than
  ``max_record_age_s``, send Lambda's OnFailure record (``KinesisBatchInfo`` with the shard and the
  sequence range) to the on-failure queue and skip those records.

Lambda retries a failed shard batch without delay; so does this poller. Shards are served round-robin.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from risk.common.archive import raw_prefix
from stacks.config import KinesisSourceConfig
from tools.local.context import FakeLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class StreamRecord:
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # epoch seconds
    generation: int = 0  # which incarnation of the stream (see KinesisPoller.reset)

    def event_record(self, stream_arn: str, region: str, function_arn: str) -> dict[str, Any]:
        """One element of a Lambda Kinesis event's ``Records``, as AWS shapes it."""
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": self.partition_key,
                "sequenceNumber": self.sequence_number,
                "data": base64.b64encode(self.data).decode("ascii"),
                "approximateArrivalTimestamp": self.arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{self.shard_id}:{self.sequence_number}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": function_arn.replace(":function:", ":role/").replace(
                "arn:aws:lambda:", "arn:aws:iam:"
            ),
            "awsRegion": region,
            "eventSourceARN": stream_arn,
        }


@dataclass
class KinesisStats:
    records_read: int = 0
    invocations: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    records_abandoned: int = 0  # sent to the on-failure queue
    abandoned: list[StreamRecord] = field(default_factory=list)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    buffer: list[StreamRecord] = field(default_factory=list)


class RawArchiver:
    """What the Firehose delivery stream does in AWS: every record, unparsed, gzip, under raw/.

    One object per GetRecords call per shard (Firehose buffers by size and time instead). Each line
    is a JSON object carrying the record's bytes in base64 (Avro records are binary) plus where it
    came from; ``riskctl replay`` reads these lines (and plain newline-delimited records too).
    """

    def __init__(self, s3: Any, bucket: str, stream_name: str) -> None:
        self.s3, self.bucket, self.stream_name = s3, bucket, stream_name
        self.objects = 0

    def deliver(self, records: list[StreamRecord]) -> None:
        if not records:
            return
        arrival = datetime.fromtimestamp(records[0].arrival, UTC)
        lines = b"".join(
            json.dumps(
                {
                    "shard_id": r.shard_id,
                    "sequence_number": r.sequence_number,
                    "partition_key": r.partition_key,
                    "approximate_arrival": r.arrival,
                    "data_b64": base64.b64encode(r.data).decode("ascii"),
                },
                separators=(",", ":"),
            ).encode()
            + b"\n"
            for r in records
        )
        key = f"{raw_prefix(arrival)}{self.stream_name}-{arrival:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(lines))
        self.objects += 1


class KinesisPoller:
    def __init__(
        self,
        kinesis: Any,
        sqs: Any,
        *,
        stream_name: str,
        stream_arn: str,
        source: KinesisSourceConfig,
        handler: Handler,
        context: FakeLambdaContext,
        on_failure_queue_url: str,
        archiver: RawArchiver | None = None,
        invoke_wrapper: Callable[[Callable[[], Any]], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kinesis, self.sqs = kinesis, sqs
        self.stream_name, self.stream_arn = stream_name, stream_arn
        self.source, self.handler, self.context = source, handler, context
        self.on_failure_queue_url = on_failure_queue_url
        self.archiver = archiver
        self.invoke_wrapper = invoke_wrapper or (lambda call: call())
        self.clock = clock
        self.stats = KinesisStats()
        self.generation = 0
        self.last_error: str | None = None
        self.shards: list[_Shard] = []
        self.reset()

    def reset(self, stream_arn: str | None = None) -> None:
        """Start again from TRIM_HORIZON of every shard (after the stream was recreated)."""
        if stream_arn:
            self.stream_arn = stream_arn
            self.generation += 1
        self.shards = []
        for shard in self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            self.shards.append(_Shard(shard["ShardId"], iterator))

    def poll_once(self) -> int:
        """One batch per shard at most; returns the number of records handed to the function."""
        handled = 0
        for shard in self.shards:
            self._fill(shard)
            if not shard.buffer:
                continue
            batch = shard.buffer[: self.source.batch_size]
            del shard.buffer[: self.source.batch_size]
            self._process(shard.shard_id, batch)
            handled += len(batch)
        return handled

    def _fill(self, shard: _Shard) -> None:
        want = self.source.batch_size - len(shard.buffer)
        if want <= 0 or shard.iterator is None:
            return
        response = self.kinesis.get_records(ShardIterator=shard.iterator, Limit=want)
        shard.iterator = response.get("NextShardIterator")
        records = [
            StreamRecord(
                shard.shard_id,
                r["SequenceNumber"],
                r["PartitionKey"],
                r["Data"],
                r["ApproximateArrivalTimestamp"].timestamp(),
                self.generation,
            )
            for r in response["Records"]
        ]
        self.stats.records_read += len(records)
        if self.archiver is not None:
            self.archiver.deliver(records)
        shard.buffer.extend(records)

    def _invoke(self, records: list[StreamRecord]) -> tuple[bool, list[str] | None]:
        """(ok, failed sequence numbers); (False, None) means the whole batch failed."""
        context = self.context.fresh()
        event = {
            "Records": [r.event_record(self.stream_arn, context.region, context.invoked_function_arn) for r in records]
        }
        self.stats.invocations += 1
        try:
            response = self.invoke_wrapper(lambda: self.handler(event, context))
        except Exception:
            self.stats.function_errors += 1
            self.last_error = traceback.format_exc()
            return False, None
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            return True, []
        self.stats.partial_failures += 1
        return False, [str(f.get("itemIdentifier") or "") for f in failures]

    def _process(self, shard_id: str, batch: list[StreamRecord]) -> None:
        pending: list[tuple[list[StreamRecord], int]] = [(batch, 0)]
        while pending:
            records, attempts = pending.pop(0)
            if self.clock() - records[0].arrival > self.source.max_record_age_s:
                self._give_up(shard_id, records, attempts, "RecordAgeExceeded")
                continue
            ok, failed = self._invoke(records)
            if ok:
                continue
            sequence = [r.sequence_number for r in records]
            if failed and all(f in sequence for f in failed):
                lowest = min(sequence.index(f) for f in failed)
                rest, bisectable = records[lowest:], False
            else:  # an exception, or identifiers Lambda would not recognise: the whole batch failed
                rest, bisectable = records, True
            attempts += 1
            if attempts > self.source.retry_attempts:
                self._give_up(shard_id, rest, attempts, "RetryAttemptsExhausted")
            elif bisectable and self.source.bisect_on_error and len(rest) > 1:
                half = len(rest) // 2
                pending[0:0] = [(rest[:half], attempts), (rest[half:], attempts)]
            else:
                pending.insert(0, (rest, attempts))

    def _give_up(self, shard_id: str, records: list[StreamRecord], attempts: int, condition: str) -> None:
        """Lambda's OnFailure destination record for a stream batch, on the on-failure queue."""
        self.stats.records_abandoned += len(records)
        self.stats.abandoned.extend(records)
        now = datetime.now(UTC)
        record = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.context.invoked_function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(record))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
