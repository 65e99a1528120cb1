"""Training on labels exported from the warehouse (issue 16): stored rows and loaded labels, the
analyst guide's training-set query on the stand-in, its result saved as CSV and as JSON Lines,
``python -m tools.train_model --from-export``, and the written model scored by the serving scorer."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from risk.score.scorers.logistic import MODELS_DIR, LogisticModel, LogisticScorer
from risk.score.state import replay
from risk.warehouse.connection import Warehouse
from risk.warehouse.labels import Label, load_labels
from tests.warehouse.rows import event_row, insert_events
from tests.warehouse.test_analyst_guide import guide_queries
from tools import train_model
from tools.generator import V1_PATTERNS, GeneratedEvent, generate

START = datetime(2026, 11, 2, tzinfo=UTC)  # inside the guide query's month
REPORTED = datetime(2026, 11, 29, tzinfo=UTC)
COUNT = 3_000
SEED = 20261130


def _training_query() -> str:
    (sql,) = [sql for title, sql in guide_queries() if title == "Labels for training"]
    return sql


def _store(warehouse: Warehouse, generated: list[GeneratedEvent]) -> None:
    """Each event as the loader stores it (its features from the serving code's replay), and its label."""
    events = [g.as_risk_event() for g in generated]
    features, _ = replay(events)
    rows = []
    for e, f in zip(events, features, strict=True):
        at = e.occurred_at.replace(tzinfo=None)
        geo = {} if e.geo is None else {"geo_lat": e.geo.lat, "geo_lon": e.geo.lon}
        rows.append(
            event_row(e.event_id, e.user_id, at, 0.0, "low", amount=e.amount, currency=e.currency, **geo, **f.to_dict())
        )
    insert_events(warehouse, rows)
    load_labels(
        warehouse,
        [
            Label(g.event["event_id"], g.event["user_id"], "fraud" if g.label else "legit", "chargeback", REPORTED)
            for g in generated
        ],
    )


def _export(warehouse: Warehouse) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The training query's column names and rows, as an analyst's SQL client gets them."""
    cursor = warehouse.connection.cursor()
    try:
        cursor.execute(warehouse.render(_training_query()))
        return [d[0] for d in cursor.description], [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()


def _write_csv(path: Path, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(names)
        out.writerows(["" if v is None else v for v in r] for r in rows)


def _json_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def _write_jsonl(path: Path, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    path.write_text(
        "".join(json.dumps({n: _json_value(v) for n, v in zip(names, r, strict=True)}) + "\n" for r in rows)
    )


@pytest.fixture(scope="module")
def generated() -> list[GeneratedEvent]:
    return generate(COUNT, SEED, START, patterns=V1_PATTERNS, high_volume_share=0.0)


@pytest.fixture
def exported(warehouse: Warehouse, generated: list[GeneratedEvent]) -> tuple[list[str], list[tuple[Any, ...]]]:
    _store(warehouse, generated)
    return _export(warehouse)


def test_a_model_trained_on_the_exported_csv_separates_held_out_users_frauds(
    exported: tuple[list[str], list[tuple[Any, ...]]], generated: list[GeneratedEvent], tmp_path: Path
) -> None:
    names, rows = exported
    assert len(rows) == COUNT  # every stored event is labelled and inside the query's month
    export = tmp_path / "labels.csv"
    _write_csv(export, names, rows)
    out = tmp_path / "lr-v9.json"
    assert train_model.main(["--from-export", str(export), "--version", "lr-v9", "--out", str(out)]) == 0

    model = LogisticModel.load(out)
    assert model.model_version == "lr-v9"
    assert model.training["export"] == "labels.csv"
    assert model.training["events"] == COUNT
    events = [g.as_risk_event() for g in generated]
    features, _ = replay(events)
    held_out = [i for i, e in enumerate(events) if train_model._held_out(e.user_id)]
    scores = LogisticScorer(model).score_batch([events[i] for i in held_out], [features[i] for i in held_out])
    labels = np.array([generated[i].label for i in held_out], dtype=np.float64)
    assert labels.sum() > 0
    assert train_model.auc(np.array([s.score for s in scores]), labels) > 0.8


def test_json_lines_and_csv_exports_of_the_same_rows_train_the_same_model(
    exported: tuple[list[str], list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    names, rows = exported
    _write_csv(tmp_path / "labels.csv", names, rows)
    _write_jsonl(tmp_path / "labels.jsonl", names, rows)
    from_csv = train_model.train_from_export(tmp_path / "labels.csv", "lr-v9")
    from_jsonl = train_model.train_from_export(tmp_path / "labels.jsonl", "lr-v9")
    for key in ("intercept", "coefficients", "scaling"):
        assert from_csv[key] == from_jsonl[key]


def test_from_export_refuses_to_overwrite_a_bundled_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundled = MODELS_DIR / "lr-v1.json"
    before = bundled.read_bytes()
    export = tmp_path / "labels.csv"
    export.write_text("user_id\n")
    assert train_model.main(["--from-export", str(export), "--version", "lr-v1"]) == 2
    assert bundled.read_bytes() == before
    err = capsys.readouterr().err
    assert "exists" in err and len(err.strip().splitlines()) == 1


def test_an_export_without_a_feature_column_fails_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "labels.csv"
    columns = [c for c in train_model.EXPORT_COLUMNS if c != "speed_kmh"]
    export.write_text(",".join(columns) + "\n" + ",".join("1" if c != "user_id" else "u-1" for c in columns) + "\n")
    assert (
        train_model.main(["--from-export", str(export), "--version", "lr-v9", "--out", str(tmp_path / "m.json")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'speed_kmh'" in err and "labels.csv:2" in err
    assert not (tmp_path / "m.json").exists()


def test_an_export_with_a_bad_label_fails_with_one_line_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "labels.jsonl"
    row: dict[str, Any] = dict.fromkeys(train_model.EXPORT_COLUMNS, 1)
    row.update(user_id="u-1", event_id="e-1", new_device=False, new_country=True, is_fraud=2)
    export.write_text(json.dumps(row) + "\n")
    assert (
        train_model.main(["--from-export", str(export), "--version", "lr-v9", "--out", str(tmp_path / "m.json")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "labels.jsonl:1" in err and "is_fraud must be 0 or 1" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "xgb", "--out", "/nonexistent/dir/x.json"], "--out: no folder /nonexistent/dir"),
        (["--count", "0"], "--count: 0 events trains nothing"),
    ],
)
def test_a_bad_out_or_count_is_refused_in_one_line_before_training(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        train_model.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)
