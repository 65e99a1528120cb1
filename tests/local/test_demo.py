"""make demo, small and in process: the reconciliation, the summary JSON, --events and --export."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from risk.common import telemetry
from risk.warehouse.columns import COLUMN_NAMES
from tools.generator import generate
from tools.local.demo import main
from tools.local.reconcile import Reconciliation
from tools.local.unusual import KINDS

SUMMARY_KEYS = {"sent", "loaded", "duplicates_suppressed", "quarantined", "dlq"}


def _run(args: list[str], dsn: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main([*args, "--dsn", dsn, "--quiet"], out=out)
    return code, out.getvalue()


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generated_run_reconciles_and_writes_summary_and_export(fresh_database: str, tmp_path: Path) -> None:
    # Folders that do not exist yet are created (docs/local-run.md writes to out/).
    summary_path, export_path = tmp_path / "out" / "summary.json", tmp_path / "rows" / "rows.jsonl"
    code, output = _run(
        ["--count", "300", "--seed", "3", "--summary-json", str(summary_path), "--export", str(export_path)],
        fresh_database,
    )
    assert code == 0, output
    summary = json.loads(summary_path.read_text())
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["ok"] is True
    assert summary["sent"] == (
        summary["loaded"]
        + sum(summary["quarantined"].values())
        + summary["dlq_not_loaded"]
        + summary["duplicates_suppressed"]
    )
    assert summary["loaded"] == 300  # every generated event, once
    assert summary["duplicates_suppressed"] == 3  # the 1% re-sent
    assert len(summary["quarantined"]) >= 12 and all(n >= 1 for n in summary["quarantined"].values())
    assert set(summary["dlq"]) == {"parsed-dlq", "scored-dlq", "parse-failures"}
    assert summary["reason_mismatches"] == []
    assert sum(summary["score_bands"].values()) == 300
    rows = _rows(export_path)
    assert len(rows) == 300 and len({r["event_id"] for r in rows}) == 300
    assert all(list(r) == list(COLUMN_NAMES) for r in rows)
    assert "OK: every record is accounted for" in output
    assert "== top flagged events" in output
    # The champion's reason contributions reach the warehouse, one per code, and the top events show them.
    assert all(len(r["reason_contributions"]) == len(r["reason_codes"]) for r in rows)
    assert summary["top_flagged"] and all(
        len(t["reason_contributions"]) == len(t["reason_codes"]) for t in summary["top_flagged"]
    )
    assert re.search(r"^        reasons: .*\b[A-Z_0-9]+ [+-]\d+\.\d\d", output, re.MULTILINE)
    # The local run emits the whole metric contract (ProcessingFailures and ScoreEventsQuarantined only
    # on failure: the drills and tests/score/test_handler.py).
    emitted = {name for name, value in summary["metrics"].items() if value > 0}
    only_on_failure = {
        telemetry.PROCESSING_FAILURES.name,
        telemetry.SCORE_EVENTS_QUARANTINED.name,
        telemetry.SCORER_FALLBACKS.name,  # a SageMaker endpoint failing (tests/score/test_sagemaker.py)
        telemetry.SHADOW_FAILURES.name,  # a shadow failing (tests/score/test_shadow_metrics.py)
    }
    assert emitted == {m.name for m in telemetry.ALL_METRICS} - only_on_failure


def test_events_file_lines_go_byte_for_byte_and_malformed_ones_are_quarantined(
    fresh_database: str, tmp_path: Path
) -> None:
    good = [orjson.dumps(g.event) for g in generate(40, seed=11)]
    lines = [
        *good,
        good[5],
        b"{not json",
        b'{"event_id": "x1", "event_type": "login"}',
        b"[1, 2, 3]",
        b'{"event_id": "x2", "user_id": "u", "event_type": "login", "occurred_at": "yesterday"}',
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    # Folders that do not exist yet are created (docs/local-run.md writes to out/).
    summary_path, export_path = tmp_path / "out" / "summary.json", tmp_path / "rows" / "rows.jsonl"
    code, output = _run(
        [
            "--events",
            str(events),
            "--format",
            "json",
            "--summary-json",
            str(summary_path),
            "--export",
            str(export_path),
        ],
        fresh_database,
    )
    assert code == 0, output
    summary = json.loads(summary_path.read_text())
    assert (summary["sent"], summary["loaded"], summary["duplicates_suppressed"]) == (45, 40, 1)
    assert summary["quarantined"] == {"not_json": 1, "missing_field": 1, "not_an_object": 1, "bad_timestamp": 1}
    exported = {r["event_id"] for r in _rows(export_path)}
    assert exported == {orjson.loads(line)["event_id"] for line in good}


# Arrival time, the per-run HMAC key, and the drill-through columns: the enriched object's batch id
# comes from the SQS message ids, and the sequence number from which copy of a re-sent record loaded.
_RUN_SPECIFIC = {
    "ingested_at", "loaded_at", "ip_key", "device_key", "email_key", "kinesis_sequence_number", "enriched_key",
}  # fmt: skip


@pytest.mark.parametrize("count", [120])
def test_json_and_avro_give_the_same_rows(pg_server: Any, tmp_path: Path, count: int) -> None:
    exports = {}
    for fmt in ("json", "avro"):
        dsn = pg_server.create_database(f"demo_{fmt}_{tmp_path.name[-6:].lower()}".replace("-", "_"))
        export = tmp_path / f"{fmt}.jsonl"
        code, output = _run(["--count", str(count), "--format", fmt, "--export", str(export)], dsn)
        assert code == 0, output
        exports[fmt] = sorted(
            ({k: v for k, v in r.items() if k not in _RUN_SPECIFIC} for r in _rows(export)), key=lambda r: r["event_id"]
        )
    assert len(exports["json"]) == count
    assert exports["json"] == exports["avro"]


def test_reconciliation_fails_when_an_event_is_missing() -> None:
    base = {
        "sent": 3,
        "loaded": 1,
        "quarantined": {"not_json": 1},
        "dlq": {},
        "dlq_not_loaded": 0,
        "duplicates_suppressed": 0,
        "unidentified": 0,
        "unexpected_rows": [],
        "unexpected_quarantine": 0,
        "reason_mismatches": [],
        "score_bands": {},
        "score_histogram": [],
        "top_flagged": [],
        "enriched_events": 1,
        "dlq_samples": {},
        "metrics": {},
    }
    missing = Reconciliation(missing=["e2"], **base)  # type: ignore[arg-type]
    assert missing.balanced and not missing.ok
    lost = Reconciliation(missing=[], **base)  # type: ignore[arg-type]
    assert not lost.balanced and not lost.ok  # one record neither loaded, quarantined nor in a DLQ


def test_unusual_events_mixed_in_load_or_are_quarantined_with_their_reason(fresh_database: str, tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    unusual = len(KINDS)
    code, output = _run(
        ["--count", "200", "--seed", "4", "--unusual", str(unusual), "--summary-json", str(summary_path)],
        fresh_database,
    )
    assert code == 0, output
    summary = json.loads(summary_path.read_text())
    assert summary["ok"] is True and summary["reason_mismatches"] == []
    assert summary["dlq"] == dict.fromkeys(summary["dlq"], 0) and summary["dlq_not_loaded"] == 0
    valid_unusual = sum(1 for kind in KINDS.values() if kind.expected is None)
    assert summary["loaded"] == 200 + valid_unusual  # every ordinary and every valid unusual event


# Columns that differ between runs by design: arrival and load times, and pseudonyms keyed by a
# PII key each local run generates afresh.
RUN_DEPENDENT = _RUN_SPECIFIC


def test_the_same_events_under_any_delivery_seed_give_identical_rows(pg_server: Any, tmp_path: Path) -> None:
    """Batch shapes, interleaving and redeliveries vary with the seed; features and scores must not."""
    exports: dict[str, list[dict[str, Any]]] = {}
    redelivered: dict[str, int] = {}
    for seed in (None, "1", "2", "3"):
        name = f"seed_{seed or 'none'}_{id(tmp_path) % 10_000}"
        dsn = pg_server.create_database(name)
        try:
            export, summary_path = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
            args = ["--count", "400", "--seed", "5", "--export", str(export), "--summary-json", str(summary_path)]
            code, output = _run([*args, *(["--delivery-seed", seed] if seed else [])], dsn)
            assert code == 0, output
            summary = json.loads(summary_path.read_text())
            assert summary["state_write_units"] > 0 and summary["state_read_units"] > 0
            assert summary["delivery_seed"] == (int(seed) if seed else None)
            redelivered[seed or "none"] = summary["redelivered_messages"]
            rows = sorted(_rows(export), key=lambda r: r["event_id"])
            exports[seed or "none"] = [{k: v for k, v in r.items() if k not in RUN_DEPENDENT} for r in rows]
        finally:
            pg_server.drop_database(name)
    assert redelivered.pop("none") == 0 and sum(redelivered.values()) > 0  # the seeds did redeliver
    reference = exports.pop("none")
    assert len(reference) == 400
    for seed, rows in exports.items():
        assert rows == reference, f"delivery seed {seed} changed rows"


def test_the_heavy_user_mix_stays_within_the_state_unit_budget(fresh_database: str, tmp_path: Path) -> None:
    """Issue 11: at most 1.0 DynamoDB write unit and 1.0 read unit per event, as DynamoDB bills them,
    on 10 users at ~400 events a day and 100 at ~30 over two days (delivery varied, some redelivered)."""
    summary_path = tmp_path / "heavy.json"
    args = ["--mix", "heavy", "--delivery-seed", "1", "--summary-json", str(summary_path)]
    code, output = _run(args, fresh_database)
    assert code == 0, output
    summary = json.loads(summary_path.read_text())
    assert summary["loaded"] == 14_000
    assert summary["state_write_units"] / summary["loaded"] <= 1.0
    assert summary["state_read_units"] / summary["loaded"] <= 1.0
