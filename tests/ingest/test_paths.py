"""Every way in loads the same rows: ``make demo`` with the same events through PutRecords, KPL
aggregates, inbox files and the event bus gives identical ``risk_events`` rows and reconciles each time."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tools.local.demo import main as demo_main

# Columns that differ between runs by design (as tests/local/test_demo.py): arrival and load times,
# pseudonyms keyed by a PII key each local run generates afresh, the enriched object's batch key.
RUN_DEPENDENT = {"ingested_at", "loaded_at", "ip_key", "device_key", "email_key", "enriched_key"}
# Where a row's event entered the stream (drill-through): another way in, other Kinesis records.
PATH_DEPENDENT = {"kinesis_shard_id", "kinesis_sequence_number"}
COUNT = 300


def _demo(pg_server: Any, tmp_path: Path, name: str, extra: list[str]) -> tuple[dict[str, Any], list[Any], str]:
    database = f"{name}_{id(tmp_path) % 10_000}"
    dsn = pg_server.create_database(database)
    export, summary_path = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
    out = io.StringIO()
    try:
        args = ["--count", str(COUNT), "--seed", "4", "--export", str(export), "--summary-json", str(summary_path)]
        code = demo_main([*args, *extra, "--dsn", dsn, "--quiet"], out=out)
        assert code == 0, out.getvalue()
    finally:
        pg_server.drop_database(database)
    rows = sorted((json.loads(line) for line in export.read_text().splitlines()), key=lambda r: r["event_id"])
    comparable = [{k: v for k, v in r.items() if k not in RUN_DEPENDENT | PATH_DEPENDENT} for r in rows]
    return json.loads(summary_path.read_text()), comparable, out.getvalue()


@pytest.fixture(scope="module")
def reference(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Any]]:
    summary, rows, _ = _demo(pg_server, tmp_path_factory.mktemp("kinesis"), "kinesis", [])
    assert len(rows) == COUNT
    return summary, rows


def test_kpl_aggregates_load_the_rows_of_plain_records_and_quarantine_the_same(
    reference: tuple[dict[str, Any], list[Any]], pg_server: Any, tmp_path: Path
) -> None:
    plain_summary, plain_rows = reference
    summary, rows, _ = _demo(pg_server, tmp_path, "kpl", ["--aggregate"])
    assert rows == plain_rows
    assert summary["quarantined"] == plain_summary["quarantined"]  # each malformed record alone, same reason
    assert summary["reason_mismatches"] == [] and summary["ok"] is True
    assert summary["duplicates_suppressed"] == plain_summary["duplicates_suppressed"]
    received = summary["metrics"]["RecordsReceived"]
    assert received < plain_summary["metrics"]["RecordsReceived"] / 10  # Kinesis records: aggregates


def test_inbox_files_load_the_rows_of_plain_records(
    reference: tuple[dict[str, Any], list[Any]], pg_server: Any, tmp_path: Path
) -> None:
    plain_summary, plain_rows = reference
    summary, rows, output = _demo(pg_server, tmp_path, "s3", ["--via", "s3"])
    assert rows == plain_rows
    assert summary["ok"] is True and summary["reason_mismatches"] == []  # ingest's reasons are parse's
    assert summary["duplicates_suppressed"] == plain_summary["duplicates_suppressed"]  # a re-sent line too
    # the empty record cannot be a line of a file: left out, and said so; every other one quarantined alike
    assert summary["sent"] == plain_summary["sent"] - 1 and "1 records that cannot be a line of a file" in output
    assert summary["quarantined"] == {k: v for k, v in plain_summary["quarantined"].items() if k != "empty_record"}


def test_events_on_the_bus_load_the_rows_of_plain_records(
    reference: tuple[dict[str, Any], list[Any]], pg_server: Any, tmp_path: Path
) -> None:
    plain_summary, plain_rows = reference
    summary, rows, output = _demo(pg_server, tmp_path, "eventbridge", ["--via", "eventbridge"])
    assert rows == plain_rows
    assert summary["ok"] is True and summary["reason_mismatches"] == []
    assert summary["duplicates_suppressed"] == plain_summary["duplicates_suppressed"]
    left_out = plain_summary["sent"] - summary["sent"]  # records that are not a JSON object: never an event
    assert left_out > 0 and f"{left_out} records that are not a JSON object" in output
    assert all(plain_summary["quarantined"][k] == v for k, v in summary["quarantined"].items())


def test_signed_webhooks_load_the_rows_of_plain_records_and_refuse_bad_events_with_parses_reason(
    reference: tuple[dict[str, Any], list[Any]], pg_server: Any, tmp_path: Path
) -> None:
    plain_summary, plain_rows = reference
    summary, rows, output = _demo(pg_server, tmp_path, "http", ["--via", "http"])
    assert rows == plain_rows
    assert summary["ok"] is True and summary["duplicates_suppressed"] == plain_summary["duplicates_suppressed"]
    # a bad event is refused to its sender (a 400 with parse's reason), so nothing reaches quarantine
    assert summary["quarantined"] == {}
    refused = dict(summary["refused"])
    assert refused.pop("empty body: no event") == plain_summary["quarantined"]["empty_record"]
    assert refused == {k: v for k, v in plain_summary["quarantined"].items() if k != "empty_record"}
    assert summary["sent"] == plain_summary["sent"] - sum(plain_summary["quarantined"].values())
    assert "signed webhook requests through the webhook function" in output
