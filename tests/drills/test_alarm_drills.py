"""Drills that prove the alarms: each fires exactly the alarms its runbook names, a clean run fires none.

The alarms are the ones the stacks synthesize (``tools.local.alarms.definitions``), evaluated against the
metrics the real handlers emitted in the local run, one pipeline round per minute. Each runbook lists
what its drill fires on a line ``Fires in the local drill: `a`, `b```; the test reads that line, so the
runbook and the alarms cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from risk.warehouse.connection import connect_dsn
from risk.warehouse.migrations import default_directory, migrate
from stacks.config import REPO_ROOT, EnvironmentConfig
from tests.drills.conftest import events, put_events
from tools.local.alarms import AlarmDefinition, definitions, evaluate, fired
from tools.local.pipeline import LocalPipeline
from tools.pg.local import LocalPostgres

QUIET_MINUTES = 6  # rounds with nothing to do after each drill: a minute with no data must stay OK


# The alarm definitions come from the synthesized stacks: the CDK runs on the tooling Python only, so
# `make test-runtime` (the Lambda code on the functions' Python, without the CDK) leaves these out.
pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def alarm_definitions() -> list[AlarmDefinition]:
    from stacks.config import load_environment  # noqa: PLC0415

    return definitions(load_environment("dev"))


def runbook_alarms(runbook: str) -> set[str]:
    text = (REPO_ROOT / "docs" / "runbooks" / runbook).read_text()
    (line,) = re.findall(r"^Fires in the local drill: (.*)$", text, re.MULTILINE)
    return set(re.findall(r"`([\w-]+)`", line))


def fired_alarms(pipeline: LocalPipeline, alarms: list[AlarmDefinition]) -> set[str]:
    for _ in range(QUIET_MINUTES):
        pipeline.step()
    series, minutes = pipeline.metrics.series, pipeline.metrics.minute
    return fired([evaluate(a, series, minutes) for a in alarms])


def test_the_runbooks_name_only_alarms_that_exist(alarm_definitions: list[AlarmDefinition]) -> None:
    keys = {a.key for a in alarm_definitions}
    for runbook in ("warehouse-outage.md", "dlq-full.md", "model-rollback.md"):
        named = runbook_alarms(runbook)
        assert named and named <= keys, (runbook, named - keys)


def test_a_clean_run_fires_no_alarm(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str, alarm_definitions: list[AlarmDefinition]
) -> None:
    pipeline = make_pipeline(pg_dsn)
    batch = events(300, seed=3)
    for start in range(0, 300, 60):
        put_events(pipeline, batch[start : start + 60])
        pipeline.drain()
    assert pipeline.metrics.totals["EventsLoaded"] == 300
    assert fired_alarms(pipeline, alarm_definitions) == set()


def test_warehouse_outage_fires_what_its_runbook_names(
    make_pipeline: Callable[..., LocalPipeline],
    cfg: EnvironmentConfig,
    tmp_path: Path,
    alarm_definitions: list[AlarmDefinition],
) -> None:
    (tmp_path / "pg").mkdir()
    with LocalPostgres.start(tmp_path / "pg") as server:
        dsn = server.create_database("outage")
        with connect_dsn(dsn) as warehouse:
            migrate(warehouse, default_directory())
        pipeline = make_pipeline(dsn)
        batch = events(200, seed=8)
        put_events(pipeline, batch[:40])
        pipeline.drain()
        server.stop()
        for start in range(40, 200, 40):  # traffic keeps arriving while the warehouse is down
            put_events(pipeline, batch[start : start + 40])
            pipeline.drain()
        assert pipeline.metrics.by_dimension[("ProcessingFailures", "warehouse")] > 0
        assert fired_alarms(pipeline, alarm_definitions) == runbook_alarms("warehouse-outage.md")


def test_a_poison_message_fires_only_the_dlq_alarm_its_runbook_names(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str, alarm_definitions: list[AlarmDefinition]
) -> None:
    pipeline = make_pipeline(pg_dsn)
    put_events(pipeline, events(60, seed=4))
    pipeline.sqs.send_message(  # the parsed queue is FIFO: a poison message still belongs to a group
        QueueUrl=pipeline.resources.queue_urls["parsed"],
        MessageBody="not an envelope",
        MessageGroupId="poison",
        MessageDeduplicationId="poison-1",
    )
    pipeline.drain()
    assert pipeline.queue_depth("parsed-dlq") == 1
    # retried max_receive_count times, then dead-lettered: one failing minute, not a failing stage
    assert fired_alarms(pipeline, alarm_definitions) == runbook_alarms("dlq-full.md")


def test_state_store_throttling_fires_what_its_runbook_names(
    make_pipeline: Callable[..., LocalPipeline],
    pg_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    alarm_definitions: list[AlarmDefinition],
) -> None:
    from risk.score.store import DynamoStateStore  # noqa: PLC0415

    throttled = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}}, "BatchGetItem"
    )

    def throttle(self: Any, user_ids: Any) -> Any:
        raise throttled

    pipeline = make_pipeline(pg_dsn)
    batch = events(200, seed=9)
    with monkeypatch.context() as patch:
        patch.setattr(DynamoStateStore, "load", throttle)
        for start in range(0, 200, 40):
            put_events(pipeline, batch[start : start + 40])
            pipeline.drain()
    assert pipeline.metrics.by_dimension[("ProcessingFailures", "state_store")] > 0
    assert fired_alarms(pipeline, alarm_definitions) == runbook_alarms("model-rollback.md")
