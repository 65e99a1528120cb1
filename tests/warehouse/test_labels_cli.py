"""``riskctl labels load``: CSV and JSON Lines into risk_labels; a mistake is one line, nothing loaded."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest

from risk.warehouse.connection import Warehouse
from tests.warehouse.rows import event_row, insert_events
from tools.riskctl import main

CSV = """event_id,user_id,label,source,reported_at,note
e1,,fraud,chargeback,2026-11-05T10:00:00Z,reason code 10.4
,u2,legit,analyst,2026-11-06T09:30:00+01:00,
"""
JSONL = """{"event_id": "e1", "label": "fraud", "source": "chargeback", "reported_at": "2026-11-05T10:00:00Z",\
 "note": "reason code 10.4"}

{"user_id": "u2", "label": "legit", "source": "analyst", "reported_at": "2026-11-06T08:30:00Z"}
"""


@pytest.fixture
def events(warehouse: Warehouse) -> Warehouse:
    insert_events(warehouse, [event_row("e1", "u1", datetime(2026, 11, 2), 0.9, "high")])
    return warehouse


def _load(path: Path, dsn: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["labels", "load", str(path), "--dsn", dsn], out=out)
    return code, out.getvalue()


def _rows(warehouse: Warehouse) -> list[tuple[object, ...]]:
    with warehouse.transaction():
        rows = warehouse.fetchall(
            "SELECT subject, event_id, user_id, label, source, reported_at, note FROM risk_labels ORDER BY subject"
        )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(("name", "text"), [("labels.csv", CSV), ("labels.jsonl", JSONL)])
def test_csv_and_json_lines_load_the_same_labels_once(
    events: Warehouse, pg_dsn: str, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert _load(path, pg_dsn) == (
        0,
        f"labels: 2 in {path}; 2 loaded (0 replacing older reports), 0 already loaded or older than what is\n",
    )
    assert _rows(events) == [
        ("event", "e1", "u1", "fraud", "chargeback", datetime(2026, 11, 5, 10, 0), "reason code 10.4"),
        ("user", None, "u2", "legit", "analyst", datetime(2026, 11, 6, 8, 30), None),
    ]
    code, output = _load(path, pg_dsn)
    assert (code, "0 loaded" in output, "2 already loaded" in output) == (0, True, True)
    assert len(_rows(events)) == 2


@pytest.mark.parametrize(
    "case",
    [
        ("bad.csv", CSV + "e9,,maybe,chargeback,2026-11-05T10:00Z,\n",
         "bad.csv line 4: label 'maybe' is not one of fraud, legit"),
        ("bad.jsonl", JSONL + "[1]\n", "bad.jsonl line 4: not a JSON object"),
        ("bad.jsonl", "{not json\n", "bad.jsonl line 1: not a JSON object (JSON Lines"),
        ("empty.csv", "event_id,label\n", "empty.csv: no labels in the file"),
        ("unknown.csv", "event_id,label,source,reported_at\nnope,fraud,chargeback,2026-11-05T10:00Z\n",
         "unknown.csv: event nope not in risk_events: give the user_id"),
    ],
)  # fmt: skip
def test_a_bad_file_stops_with_one_line_and_loads_nothing(
    events: Warehouse, pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str]
) -> None:
    name, text, message = case
    path = tmp_path / name
    path.write_text(text)
    code, _ = _load(path, pg_dsn)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("riskctl: error: ") and err.count("\n") == 1 and message in err, err
    assert _rows(events) == []


def test_a_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["labels", "load", str(tmp_path / "none.csv"), "--dsn", "postgresql://x@localhost:1/db"])
    assert stopped.value.code == 2
    assert "no such file" in capsys.readouterr().err
