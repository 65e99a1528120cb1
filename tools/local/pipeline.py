"""The real parse, score and load handlers, driven by the local pollers over moto.

Every stage runs in this process, one invocation at a time (the machine has two cores and moto is
not built for concurrency). The handlers get exactly the environment the stacks give them
(``runtime_environment``) plus ``WAREHOUSE_DSN``; their modules are imported fresh for each
pipeline, so per-container caches (clients, the warehouse connection) start cold as in a new
deployment. The metrics they print (CloudWatch EMF on stdout) are captured and summed instead of
flooding the terminal.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import random
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import boto3

from tools.cli.producer import Entry, put_aggregated, put_batched
from tools.local import moto_fidelity, moto_speedups
from tools.local.context import FakeLambdaContext
from tools.local.kinesis import KinesisPoller, RawArchiver
from tools.local.provision import LocalResources
from tools.local.sqs import SqsPoller

Handler = Callable[[dict[str, Any], Any], Any]
HANDLERS = {
    "parse": "risk.parse.handler:lambda_handler",
    "score": "risk.score.handler:lambda_handler",
    "load": "risk.load.handler:lambda_handler",
}
STAGES = ("parse", "score", "load")


def _delivery(seed: int | None, stage: str) -> random.Random | None:
    return None if seed is None else random.Random(f"{seed}:{stage}")


def import_handler(path: str) -> Handler:
    """Import ``module:function`` afresh (a new 'container'), dropping any cached module first."""
    module_name, function = path.split(":")
    sys.modules.pop(module_name, None)
    module = importlib.import_module(module_name)
    handler: Handler = getattr(module, function)
    return handler


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class HandlerLog(io.StringIO):
    """The default log sink: keeps the last ``keep`` lines (shown when a run fails), drops the rest."""

    def __init__(self, keep: int = 200) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=keep)

    def write(self, text: str) -> int:
        self.lines.extend(line for line in text.splitlines() if line.strip())
        return len(text)


SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, metric name, sorted dimensions


def series_key(namespace: str, name: str, dimensions: Mapping[str, str]) -> SeriesKey:
    return namespace, name, tuple(sorted(dimensions.items()))


@dataclass
class MetricTotals:
    """Sums of the EMF metrics the handlers printed, by name and by (name, dimension value); and every
    value by minute (``series``), for ``tools.local.alarms``.

    The local clock: ``minute`` is advanced once per pipeline round (:meth:`LocalPipeline.step`), so a
    round stands for one minute of CloudWatch evaluation (the local run compresses time).
    """

    totals: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_dimension: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    minute: int = 0
    series: dict[SeriesKey, dict[int, list[float]]] = field(default_factory=dict)

    def record(self, namespace: str, name: str, dimensions: Mapping[str, str], values: Sequence[float]) -> None:
        """Values of one metric in the current minute (also what the run samples itself: queue depths)."""
        self.series.setdefault(series_key(namespace, name, dimensions), {}).setdefault(self.minute, []).extend(values)

    def feed(self, text: str, log: TextIO | None = None) -> None:
        for line in text.splitlines():
            doc = _json_object(line)
            if doc is None or "_aws" not in doc:
                if line.strip() and log is not None:
                    log.write(line + "\n")
                continue
            for directive in doc["_aws"].get("CloudWatchMetrics", []):
                dims = [d for group in directive.get("Dimensions", []) for d in group]
                for metric in directive.get("Metrics", []):
                    name = metric["Name"]
                    values = doc.get(name)
                    each = [float(v) for v in values] if isinstance(values, list) else [float(values or 0)]
                    value = sum(each)
                    self.totals[name] += value
                    dimensions = {d: str(doc.get(d)) for d in dims}
                    self.record(directive.get("Namespace", ""), name, dimensions, each)
                    for dim in dims:
                        if dim not in ("service", "environment"):
                            self.by_dimension[(name, str(doc.get(dim)))] += value


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class SentRecord:
    """One record put on the stream, and what the producer knows about it."""

    generation: int  # which incarnation of the stream (KinesisPoller.reset with a recreated stream)
    shard_id: str
    sequence_number: str
    data: bytes
    event_id: str | None  # None when the producer does not know (a malformed line)
    expected_reason: str | None = None  # the quarantine reason, for generated malformed records


class LocalPipeline:
    def __init__(
        self,
        resources: LocalResources,
        warehouse_dsn: str | None,
        *,
        handlers: Mapping[str, Handler] | None = None,
        archive_raw: bool = True,
        fast_retry: bool = True,
        log: TextIO | None = None,
        delivery_seed: int | None = None,
    ) -> None:
        moto_speedups.apply()
        moto_fidelity.apply()  # SQS's character set, as AWS enforces it
        # Where the handlers' log lines go: their Powertools Loggers bind to sys.stdout at import.
        self.log: TextIO = log if log is not None else HandlerLog()
        self.resources = resources
        cfg = resources.cfg
        session = boto3.session.Session(region_name=resources.region)
        self.kinesis = session.client("kinesis")
        self.sqs = session.client("sqs")
        self.s3 = session.client("s3")
        self.environments = {stage: resources.lambda_environment(stage, warehouse_dsn) for stage in STAGES}
        # The union goes into os.environ once (the names do not clash); each invocation then sets
        # its own function name, as each function's container would.
        for values in self.environments.values():
            os.environ.update({k: v for k, v in values.items() if not k.startswith("AWS_LAMBDA_")})
        os.environ.setdefault("POWERTOOLS_DEV", "false")
        self.metrics = MetricTotals()
        given = dict(handlers or {})
        self.handlers: dict[str, Handler] = {}
        for stage in STAGES:
            if stage in given:
                self.handlers[stage] = given[stage]
            else:
                with patched_environ(self.environments[stage]), contextlib.redirect_stdout(self.log):
                    self.handlers[stage] = import_handler(HANDLERS[stage])
        self.sent: list[SentRecord] = []
        self.parse = KinesisPoller(
            self.kinesis,
            self.sqs,
            stream_name=resources.stream_name,
            stream_arn=resources.stream_arn,
            source=cfg.kinesis_source,
            handler=self.handlers["parse"],
            context=self._context("parse"),
            on_failure_queue_url=resources.queue_urls["parse-failures"],
            archiver=RawArchiver(self.s3, resources.bucket, resources.stream_name) if archive_raw else None,
            invoke_wrapper=self._wrapper("parse"),
        )
        # One generator per poller, seeded apart: each queue's delivery varies reproducibly.
        self.score = self._sqs_poller("score", "parsed", fast_retry, _delivery(delivery_seed, "score"))
        self.load = self._sqs_poller("load", "scored", fast_retry, _delivery(delivery_seed, "load"))

    def _context(self, stage: str) -> FakeLambdaContext:
        fn = self.resources.cfg.function(stage)
        return FakeLambdaContext(
            self.resources.function_name(stage), fn.memory_mb, fn.timeout_s, region=self.resources.region
        )

    def _wrapper(self, stage: str) -> Callable[[Callable[[], Any]], Any]:
        env = {k: v for k, v in self.environments[stage].items() if k.startswith("AWS_LAMBDA_")}

        function = {"FunctionName": self.resources.function_name(stage)}

        def invoke(call: Callable[[], Any]) -> Any:
            out = io.StringIO()
            self.metrics.record("AWS/Lambda", "Invocations", function, [1])
            try:
                with patched_environ(env), contextlib.redirect_stdout(out):
                    return call()
            except Exception:
                self.metrics.record("AWS/Lambda", "Errors", function, [1])  # a crash, as Lambda counts it
                raise
            finally:
                self.metrics.feed(out.getvalue(), self.log)

        return invoke

    def state_units(self) -> tuple[float, float]:
        """(read, write) DynamoDB units the score function's state store billed so far (0 if not invoked)."""
        module = sys.modules.get(HANDLERS["score"].split(":")[0])
        dependencies = getattr(module, "dependencies", None)
        if dependencies is None or not dependencies.cache_info().currsize:
            return 0.0, 0.0
        store = dependencies().store
        return float(store.read_units), float(store.write_units)

    def _sqs_poller(self, stage: str, queue: str, fast_retry: bool, delivery: random.Random | None) -> SqsPoller:
        return SqsPoller(
            self.sqs,
            queue_url=self.resources.queue_urls[queue],
            queue_arn=self.resources.queue_arns[queue],
            batch_size=self.resources.cfg.function(stage).batch_size,
            handler=self.handlers[stage],
            context=self._context(stage),
            invoke_wrapper=self._wrapper(stage),
            fast_retry=fast_retry,
            delivery=delivery,
        )

    # -- producing -------------------------------------------------------------------------------

    def put(
        self,
        payloads: Sequence[bytes],
        partition_keys: Sequence[str],
        event_ids: Sequence[str | None],
        expected_reasons: Sequence[str | None] | None = None,
        *,
        aggregate: bool = False,
    ) -> list[SentRecord]:
        """Put the records; ``aggregate``: as KPL aggregates, each record one SentRecord at its aggregate's place."""
        entries = [Entry(d, k) for d, k in zip(payloads, partition_keys, strict=True)]
        put = put_aggregated if aggregate else put_batched
        placed = put(self.kinesis, self.resources.stream_name, entries)
        reasons = expected_reasons or [None] * len(entries)
        sent = [
            SentRecord(self.parse.generation, p.shard_id, p.sequence_number, e.data, eid, reason)
            for p, e, eid, reason in zip(placed, entries, event_ids, reasons, strict=True)
        ]
        self.sent.extend(sent)
        return sent

    # -- running ---------------------------------------------------------------------------------

    def step(self) -> int:
        """One round (one local minute): a batch per shard for parse, then score and load until their
        queues are empty; queue depths are sampled as it goes, as CloudWatch samples SQS."""
        self.metrics.minute += 1
        work = self.parse.poll_once()
        self.sample_queues()
        while (n := self.score.poll_once() + self.load.poll_once()) > 0:
            work += n
            self.sample_queues()
        self.sample_queues()
        return work

    def sample_queues(self) -> None:
        """``AWS/SQS ApproximateNumberOfMessagesVisible`` of every queue, into the current minute."""
        for key, url in self.resources.queue_urls.items():
            visible = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            self.metrics.record(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": self.resources.cfg.queue_name(key)},
                [float(visible["Attributes"]["ApproximateNumberOfMessages"])],
            )

    def drain(self, progress: Callable[[LocalPipeline], None] | None = None, max_rounds: int = 1_000_000) -> int:
        """Run until a whole round finds nothing to do; returns the number of rounds."""
        for rounds in range(1, max_rounds + 1):
            if self.step() == 0:
                return rounds
            if progress is not None:
                progress(self)
        raise RuntimeError(f"the pipeline did not go quiet within {max_rounds} rounds")

    def queue_depth(self, key: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.resources.queue_urls[key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
