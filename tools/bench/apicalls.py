"""AWS API calls per 1,000 events through parse, score and load, by service and operation.

The real handlers run in the local pipeline (``tools.local``: moto, the embedded PostgreSQL, pollers
with Lambda's event-source semantics). Every request a botocore client makes is seen by a
``before-call`` hook registered as a botocore builtin handler, so it reaches the clients of every
session, including those the handlers create themselves. A call counts only while a handler is
running: the pollers' own traffic (GetRecords, GetShardIterator, ReceiveMessage, DeleteMessage, the
raw-archive stand-in for Firehose) is what Lambda's event source mappings do in AWS and is left out.

Baseline: one call per event per step, 5 per event: parse SendMessage; score GetItem, PutItem and
SendMessage; load PutObject.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers

from risk.common.envelope import unpack
from tools.bench.report import Figure
from tools.bench.workload import json_records, producer_events

BENCH = "apicalls"
DEFAULT_COUNT = 2_000
BASELINE_PER_EVENT = 5  # parse SendMessage; score GetItem + PutItem + SendMessage; load PutObject
TARGET_FEWER = 10.0
STATE_WRITE = ("dynamodb", "PutItem")
STAGES = ("parse", "score", "load")


def _conditional(params: Any) -> bool:
    """Whether a PutItem request is conditional: the state's head writes are, its immutable items are not."""
    body = (params or {}).get("body", b"")
    return b"ConditionExpression" in (body if isinstance(body, bytes) else str(body).encode())


@dataclass
class CallLog:
    """Calls by (stage, service, operation); state writes and users per score invocation."""

    stage: str | None = None
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    invocation_writes: int = 0
    writes_and_users: list[tuple[int, int]] = field(default_factory=list)  # per score invocation

    def before_call(self, model: Any, params: Any = None, **_: Any) -> None:
        if self.stage is None:
            return
        key = (self.stage, model.service_model.service_name, model.name)
        self.calls[key] += 1
        if key[1:] == STATE_WRITE and _conditional(params):
            self.invocation_writes += 1  # a head; a chunk or an id segment is written once, unconditionally

    def per_service(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, service, _), n in self.calls.items():
            out[service] += n
        return out


@contextmanager
def hooked(log: CallLog) -> Iterator[None]:
    """Register the hook for every botocore session created from now on (and reset boto3's default one)."""
    import boto3  # noqa: PLC0415

    entry = ("before-call", log.before_call)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        boto3.DEFAULT_SESSION = None


def _users_in(event: dict[str, Any]) -> int:
    users: set[str] = set()
    for record in event.get("Records", []):
        try:
            users.update(item["user_id"] for item in unpack(record["body"]))
        except Exception:
            continue
    return len(users)


def _wrap(stage: str, handler: Any, log: CallLog) -> Any:
    def invoke(event: dict[str, Any], context: Any) -> Any:
        log.stage, log.invocation_writes = stage, 0
        try:
            return handler(event, context)
        finally:
            log.stage = None
            if stage == "score":
                log.writes_and_users.append((log.invocation_writes, _users_in(event)))

    return invoke


def measure(count: int, dsn: str | None = None) -> tuple[CallLog, int]:
    """Run ``count`` generated events through the pipeline; returns the call log and the rows loaded."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto needs some; never real ones
        os.environ[name] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    from moto import mock_aws  # noqa: PLC0415 (dev dependency)

    from risk.warehouse.connection import connect_dsn  # noqa: PLC0415
    from stacks.config import load_environment  # noqa: PLC0415
    from tools.bench.loader import migrated_database  # noqa: PLC0415
    from tools.local.pipeline import HANDLERS, LocalPipeline, import_handler, patched_environ  # noqa: PLC0415
    from tools.local.provision import provision  # noqa: PLC0415

    log = CallLog()
    cfg = load_environment("dev")
    events = producer_events(count)
    with ExitStack() as stack:
        database = stack.enter_context(migrated_database(dsn))
        stack.enter_context(hooked(log))
        stack.enter_context(mock_aws())
        resources = provision(cfg, shard_count=2)
        handlers = {}
        for stage in STAGES:
            with patched_environ(resources.lambda_environment(stage, database)):
                handlers[stage] = _wrap(stage, import_handler(HANDLERS[stage]), log)
        pipeline = LocalPipeline(resources, database, handlers=handlers, archive_raw=False)
        pipeline.put(json_records(count), [e["user_id"] for e in events], [e["event_id"] for e in events])
        pipeline.drain()
        with connect_dsn(database) as warehouse, warehouse.transaction():
            loaded = int(warehouse.scalar("SELECT COUNT(*) FROM risk_events"))
    return log, loaded


def run(count: int = DEFAULT_COUNT, dsn: str | None = None) -> list[Figure]:
    log, loaded = measure(count, dsn)
    if loaded != count:
        raise RuntimeError(f"{loaded} of {count} events reached the warehouse: the call counts would be wrong")
    per_k = 1_000 / count
    figures = []
    for (stage, service, operation), n in sorted(log.calls.items()):
        figures.append(Figure(BENCH, f"{stage}: {service} {operation} per 1,000 events", n * per_k, "calls"))
    for service, n in sorted(log.per_service().items()):
        figures.append(Figure(BENCH, f"all stages: {service} per 1,000 events", n * per_k, "calls"))
    total = sum(log.calls.values()) * per_k
    writes = sum(n for key, n in log.calls.items() if key[1:] == STATE_WRITE) * per_k
    baseline = BASELINE_PER_EVENT * 1_000
    outside = total - writes
    figures.append(
        Figure(
            BENCH,
            "all AWS calls per 1,000 events",
            total,
            "calls",
            f"{baseline:,} (one per event per step)",
            baseline / total,
            "",
        )
    )
    figures.append(
        Figure(
            BENCH,
            "calls per 1,000 events outside per-user state writes",
            outside,
            "calls",
            f"{baseline:,} (one per event per step)",
            baseline / outside,
            f">= {TARGET_FEWER:g}x fewer",
            baseline / outside >= TARGET_FEWER,
        )
    )
    user_batches = sum(users for _, users in log.writes_and_users)
    state_writes = sum(w for w, _ in log.writes_and_users)
    worst = max((w / u for w, u in log.writes_and_users if u), default=0.0)
    figures.append(
        Figure(
            BENCH,
            f"state writes per user per batch (worst of {len(log.writes_and_users)} batches)",
            worst,
            "writes",
            target="<= 1",
            met=worst <= 1.0 and state_writes <= user_batches,
        )
    )
    return figures
