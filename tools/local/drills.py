"""Alarm drills: the local pipeline with one fault injected, then which alarms would have fired, and when.

    make demo ARGS="--drill warehouse-down"     # or state-throttling, poison, clean

Each drill runs the real handlers over moto and an embedded PostgreSQL of its own (the warehouse-down
drill stops it mid-run), appends ``QUIET_MINUTES`` idle rounds, and evaluates the alarms the stacks
synthesize (``tools.local.alarms``) against the metrics the run emitted, one pipeline round per
minute. The alarms a drill must fire are the ones its runbook names on its line
``Fires in the local drill: `a`, `b```; the clean run must fire none. ``tests/drills/test_alarm_drills.py``
runs every drill through :func:`run_drill`, so the demo and the test cannot disagree.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from unittest import mock

import orjson
from botocore.exceptions import ClientError

from risk.warehouse.connection import connect_dsn
from risk.warehouse.migrations import default_directory, migrate
from stacks.config import REPO_ROOT, EnvironmentConfig
from tools.cli.errors import OperatorError
from tools.local.alarms import QUIET_MINUTES, AlarmDefinition, Verdict, definitions, evaluate, fired, report
from tools.local.pipeline import LocalPipeline
from tools.local.provision import provision
from tools.pg.local import LocalPostgres

RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
SHARDS = 2
_DATABASES = itertools.count()


@dataclass(frozen=True)
class Drill:
    name: str
    runbook: str | None  # the runbook whose "Fires in the local drill" line it must match; None: fires nothing
    fault: str  # what is injected, in one line
    run: Callable[[LocalPipeline, LocalPostgres], None]
    stops_warehouse: bool = False


@dataclass(frozen=True)
class DrillResult:
    drill: Drill
    verdicts: list[Verdict]
    minutes: int
    expected: frozenset[str]

    @property
    def fired(self) -> set[str]:
        return fired(self.verdicts)

    @property
    def ok(self) -> bool:
        return self.fired == self.expected


def runbook_alarms(runbook: str) -> frozenset[str]:
    """The alarm keys a runbook's ``Fires in the local drill:`` line names."""
    text = (RUNBOOKS / runbook).read_text()
    (line,) = re.findall(r"^Fires in the local drill: (.*)$", text, re.MULTILINE)
    return frozenset(re.findall(r"`([\w-]+)`", line))


# ----------------------------------------------------------------------------------------------- traffic


def _events(count: int, seed: int) -> list[dict[str, Any]]:
    from tools.generator import generate  # noqa: PLC0415 - the generator is a local tool, imported when used

    return [g.event for g in generate(count, seed=seed)]


def _send(pipeline: LocalPipeline, batch: Sequence[dict[str, Any]]) -> None:
    pipeline.put(
        [orjson.dumps(e) for e in batch], [str(e["user_id"]) for e in batch], [str(e["event_id"]) for e in batch]
    )


def _traffic(pipeline: LocalPipeline, events: Sequence[dict[str, Any]], piece: int) -> None:
    """Events arriving a piece at a time, the pipeline draining in between (traffic over several minutes)."""
    for start in range(0, len(events), piece):
        _send(pipeline, events[start : start + piece])
        pipeline.drain()


# ----------------------------------------------------------------------------------------------- the drills


def _clean(pipeline: LocalPipeline, server: LocalPostgres) -> None:
    _traffic(pipeline, _events(300, seed=3), piece=60)


def _warehouse_down(pipeline: LocalPipeline, server: LocalPostgres) -> None:
    events = _events(200, seed=8)
    _traffic(pipeline, events[:40], piece=40)
    server.stop()  # the warehouse goes away; traffic keeps arriving
    _traffic(pipeline, events[40:], piece=40)


def _poison(pipeline: LocalPipeline, server: LocalPostgres) -> None:
    _send(pipeline, _events(60, seed=4))
    pipeline.sqs.send_message(  # the parsed queue is FIFO: a poison message still belongs to a group
        QueueUrl=pipeline.resources.queue_urls["parsed"],
        MessageBody="not an envelope",
        MessageGroupId="poison",
        MessageDeduplicationId="poison-1",
    )
    pipeline.drain()


@contextlib.contextmanager
def _state_store_throttled() -> Iterator[None]:
    """Every state read refused as DynamoDB refuses a throttled one (the error botocore raises after its retries).

    moto has no throttling; refusing at the store's read keeps the score handler's own error handling and
    ``ProcessingFailures {stage: score, cause: state_store}`` real, without waiting out botocore's backoff.
    """
    from risk.score.store import DynamoStateStore  # noqa: PLC0415 - the handler imports it afresh per pipeline

    refused = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}}, "BatchGetItem"
    )

    def throttled(self: Any, *_: Any, **__: Any) -> Any:
        raise refused

    with mock.patch.object(DynamoStateStore, "load", throttled):
        yield


def _state_throttling(pipeline: LocalPipeline, server: LocalPostgres) -> None:
    with _state_store_throttled():
        _traffic(pipeline, _events(200, seed=9), piece=40)


DRILLS = {
    d.name: d
    for d in (
        Drill("clean", None, "nothing: 300 events over 5 minutes", _clean),
        Drill(
            "warehouse-down",
            "warehouse-outage.md",
            "the warehouse stopped after the first 40 of 200 events; traffic keeps arriving",
            _warehouse_down,
            stops_warehouse=True,
        ),
        Drill(
            "state-throttling",
            "model-rollback.md",
            "every read of the DynamoDB feature state refused as throttled, for all of 200 events",
            _state_throttling,
        ),
        Drill(
            "poison",
            "dlq-full.md",
            "one message that is no envelope sent to the parsed queue among 60 good events",
            _poison,
        ),
    )
}


# ----------------------------------------------------------------------------------------------- running


def run_drill(
    name: str,
    cfg: EnvironmentConfig,
    workdir: Path,
    alarms: Sequence[AlarmDefinition] | None = None,
    server: LocalPostgres | None = None,
) -> DrillResult:
    """Run one drill in the moto account the caller has started (``mock_aws``).

    The warehouse is a new database on ``server`` (restarted afterwards if the drill stopped it), or on
    an embedded server of the drill's own under ``workdir``.
    """
    drill = DRILLS[name]
    alarms = definitions(cfg) if alarms is None else alarms
    with contextlib.ExitStack() as stack:
        if server is None:
            (workdir / "pg").mkdir(parents=True, exist_ok=True)
            server = stack.enter_context(LocalPostgres.start(workdir / "pg"))
            shared = None
        else:
            shared = server  # someone else's server: leave it running and without the drill's database
        database = f"drill_{name.replace('-', '_')}_{os.getpid()}_{next(_DATABASES)}"
        dsn = server.create_database(database)
        if shared is not None:
            stack.callback(shared.drop_database, database)
            if drill.stops_warehouse:
                stack.callback(shared.restart)  # runs first (callbacks unwind last in, first out)
        with connect_dsn(dsn) as warehouse:
            migrate(warehouse, default_directory())
        pipeline = LocalPipeline(provision(cfg, shard_count=SHARDS), dsn)
        drill.run(pipeline, server)
        for _ in range(QUIET_MINUTES):
            pipeline.step()
    series, minutes = pipeline.metrics.series, pipeline.metrics.minute
    expected = frozenset() if drill.runbook is None else runbook_alarms(drill.runbook)
    return DrillResult(drill, [evaluate(a, series, minutes) for a in alarms], minutes, expected)


def print_result(result: DrillResult, out: TextIO) -> None:
    """Which alarms fired and when, then whether that is what the drill's runbook says."""
    drill = result.drill
    out.write(f"\n== drill {drill.name}: {drill.fault}\n")
    report(result.verdicts, result.minutes, out)
    where = f"docs/runbooks/{drill.runbook}" if drill.runbook else "a clean run"
    expected = ", ".join(sorted(result.expected)) or "none"
    if result.ok:
        out.write(f"OK: exactly the alarms {where} names fired ({expected})\n")
        return
    missing, extra = sorted(result.expected - result.fired), sorted(result.fired - result.expected)
    out.write(f"DIFFERS from {where} (expected: {expected}): missing {missing or '-'}, unexpected {extra or '-'}\n")


def demo_drill(name: str, cfg: EnvironmentConfig, dsn: str | None, out: TextIO) -> int:
    """``make demo ARGS="--drill NAME"``: 0 when the drill fires what its runbook names, else 1."""
    if dsn:
        raise OperatorError("--drill runs its own embedded warehouse (warehouse-down stops it): drop --dsn", 2)
    from moto import mock_aws  # noqa: PLC0415 - a dev dependency, as in the demo

    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto needs some; never real ones
        os.environ[variable] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    out.write(f"make demo --drill {name}: env={cfg.name}; synthesizing the alarm definitions\n")
    alarms = definitions(cfg)
    with tempfile.TemporaryDirectory(prefix="risk-drill-") as workdir, mock_aws():
        result = run_drill(name, cfg, Path(workdir), alarms)
    print_result(result, out)
    return 0 if result.ok else 1
