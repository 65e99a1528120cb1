"""Drill: the warehouse goes away mid-run.

While PostgreSQL is stopped, every load batch goes back to the queue and, after maxReceiveCount
receives, to the DLQ; nothing is acknowledged. After a restart and a redrive everything is loaded,
exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from risk.warehouse.connection import connect_dsn
from risk.warehouse.migrations import default_directory, migrate
from stacks.config import EnvironmentConfig
from tests.drills.conftest import events, put_events, warehouse_ids
from tools.cli.redrive import redrive
from tools.local.pipeline import LocalPipeline
from tools.local.reconcile import reconcile
from tools.pg.local import LocalPostgres


def test_outage_then_restart_and_redrive_loads_everything_once(
    make_pipeline: Callable[..., LocalPipeline], cfg: EnvironmentConfig, tmp_path: Path
) -> None:
    (tmp_path / "pg").mkdir()
    with LocalPostgres.start(tmp_path / "pg") as server:  # our own server: the session's stays up
        dsn = server.create_database("outage")
        with connect_dsn(dsn) as warehouse:
            migrate(warehouse, default_directory())
        pipeline = make_pipeline(dsn)
        batch = events(240, seed=8)

        put_events(pipeline, batch[:60])
        pipeline.drain()
        assert len(warehouse_ids(dsn)) == 60

        server.stop()
        for start in range(60, 240, 30):  # the rest arrives while the warehouse is down
            put_events(pipeline, batch[start : start + 30])
            pipeline.drain()
        load = pipeline.load.stats
        in_dlq = pipeline.queue_depth("scored-dlq")
        assert in_dlq > 1
        assert pipeline.queue_depth("scored") == 0
        assert load.failed == in_dlq * cfg.queues.max_receive_count  # every receive failed, then redrive took it
        assert pipeline.metrics.by_dimension[("ProcessingFailures", "warehouse")] >= 1

        server.restart()
        assert len(warehouse_ids(dsn)) == 60  # nothing was committed during the outage
        moved = redrive(pipeline.sqs, pipeline.resources.queue_urls["scored-dlq"])
        assert (moved.method, moved.messages) == ("resend", in_dlq)
        pipeline.drain()

        ids = warehouse_ids(dsn)
        assert len(ids) == len(set(ids)) == 240
        assert pipeline.queue_depth("scored-dlq") == 0
        with connect_dsn(dsn) as warehouse:
            rec = reconcile(pipeline, warehouse)
        assert rec.ok and rec.loaded == 240 and rec.dlq["scored-dlq"] == 0
