"""Drill: two whole local pipelines load the same events into one warehouse at the same time.

The measurement that opened issue 10: two ``make demo --dsn`` runs of the same events at once left
every event twice, because each load checked "already loaded?" in its own snapshot. Here both runs
are real processes (their own moto, their own handlers) on one stand-in set up as Redshift runs
(snapshot isolation, no enforced key): every event must be in ``risk_events`` exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drills.conftest import warehouse_ids

REPO = Path(__file__).resolve().parents[2]
COUNT = 600


@pytest.mark.slow
def test_two_demos_at_once_load_every_event_once(pg_dsn: str, tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": f"{REPO / 'lambdas'}{os.pathsep}{REPO}"}
    runs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "tools.local.demo", "--count", str(COUNT), "--seed", "11", "--dsn", pg_dsn),
                *("--quiet", "--summary-json", str(tmp_path / f"summary-{i}.json")),
            ],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for output in outputs:
        assert "Traceback" not in output, output[-3000:]

    ids = warehouse_ids(pg_dsn)
    summaries = [json.loads((tmp_path / f"summary-{i}.json").read_text()) for i in range(2)]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events loaded more than once"
    for summary in summaries:  # each run reconciles: all its events loaded, nothing in a DLQ
        assert summary["ok"] is True
        assert summary["loaded"] == COUNT == len(ids)
        assert summary["missing"] == summary["unexpected_rows"] == 0
        assert set(summary["dlq"].values()) == {0}
