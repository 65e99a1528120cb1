"""Champion vs shadows in the warehouse (V025): the Redshift text unnests ``shadow_scores`` with PartiQL
(checked by shape), the stand-in renders it with jsonb functions, and the views' answers on a small
fixture are the ones worked out by hand below."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlglot import exp

from risk.warehouse.connection import Warehouse
from risk.warehouse.dialect import parse_redshift, render_postgres, split_statements
from tests.conftest import SCHEMA_DIR
from tests.warehouse.rows import event_row, insert_events

MIGRATION = "V025__shadow_comparison.sql"
D23, D24 = date(2026, 11, 23), date(2026, 11, 24)


def _view(name: str) -> str:
    statements = split_statements((SCHEMA_DIR / MIGRATION).read_text())
    return next(s for s in statements if s.startswith(f"CREATE OR REPLACE VIEW {name} "))


def _shadow(version: str, score: float, band: str) -> dict[str, Any]:
    return {"model_version": version, "score": score, "risk_band": band}


def _row(event_id: str, day: int, score: float, band: str, shadows: list[dict[str, Any]] | None) -> dict[str, Any]:
    return event_row(
        event_id, "u-1", datetime(2026, 11, day, 10), score, band, model_version="xgb-v1", shadow_scores=shadows
    )


# Nov 23, champion xgb-v1 against lr-v1 on five events; lr-v2 scored e1 only; e6 has no shadow.
FIXTURE = [
    _row("e1", 23, 0.05, "low", [_shadow("lr-v1", 0.12, "low"), _shadow("lr-v2", 0.75, "high")]),
    _row("e2", 23, 0.25, "low", [_shadow("lr-v1", 0.35, "medium")]),  # up
    _row("e3", 23, 0.5, "medium", [_shadow("lr-v1", 0.8, "high")]),  # up, into high
    _row("e4", 23, 0.9, "high", [_shadow("lr-v1", 0.6, "medium")]),  # down, out of high
    _row("e5", 23, 1.0, "high", [_shadow("lr-v1", 0.7, "high")]),  # same (a score of 1 is in bucket 9)
    _row("e6", 23, 0.95, "high", None),  # not compared
    _row("e7", 24, 0.1, "low", [_shadow("lr-v1", 0.0, "low")]),
]


@pytest.fixture
def compared(warehouse: Warehouse) -> Warehouse:
    insert_events(warehouse, FIXTURE)
    return warehouse


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(round(float(v), 6) if isinstance(v, Decimal | float) else v for v in row)


def test_on_redshift_the_pairs_view_unnests_shadow_scores_with_partiql_and_navigates_each_element() -> None:
    tree = parse_redshift(_view("v_shadow_pairs"))
    assert tree is not None
    unnest = [join.this for join in tree.find_all(exp.Join) if isinstance(join.this, exp.AtIndex)]
    assert [(u.this.this.sql(), u.this.alias, u.expression.name) for u in unnest] == [("r.shadow_scores", "s", "i")]
    navigated = {c.name for c in tree.find_all(exp.Column) if c.table == "s"}
    assert navigated == {"model_version", "risk_band", "score"}
    casts = {
        c.this.name: c.to.sql(dialect="redshift")
        for c in tree.find_all(exp.Cast)
        if isinstance(c.this, exp.Column) and c.this.table == "s"
    }
    assert casts == {"model_version": "VARCHAR(64)", "risk_band": "VARCHAR(16)", "score": "DOUBLE PRECISION"}


def test_navigation_into_an_unnested_object_renders_as_jsonb_extract_on_postgres() -> None:
    rendered = render_postgres("SELECT e.id, x.f FROM t AS e, e.arr AS x AT i").sql
    assert rendered == (
        "SELECT e.id, JSONB_EXTRACT_PATH_TEXT(CAST(x AS JSONB), 'f') FROM t AS e CROSS JOIN LATERAL "
        "(SELECT value AS x, ordinality - 1 AS i FROM JSONB_ARRAY_ELEMENTS_TEXT(e.arr) WITH ORDINALITY) AS x_unnested"
    )
    # a table that is not an unnested element keeps its columns
    assert render_postgres("SELECT x.f FROM t AS x").sql == "SELECT x.f FROM t AS x"


def test_pairs_are_one_row_per_event_and_shadow_and_events_without_shadows_are_left_out(compared: Warehouse) -> None:
    rows = compared.fetchall(
        "SELECT event_id, day, champion_version, shadow_version, champion_band, shadow_band, champion_score, "
        "shadow_score FROM v_shadow_pairs ORDER BY event_id, shadow_version"
    )
    assert [_plain(r) for r in rows] == [
        ("e1", D23, "xgb-v1", "lr-v1", "low", "low", 0.05, 0.12),
        ("e1", D23, "xgb-v1", "lr-v2", "low", "high", 0.05, 0.75),
        ("e2", D23, "xgb-v1", "lr-v1", "low", "medium", 0.25, 0.35),
        ("e3", D23, "xgb-v1", "lr-v1", "medium", "high", 0.5, 0.8),
        ("e4", D23, "xgb-v1", "lr-v1", "high", "medium", 0.9, 0.6),
        ("e5", D23, "xgb-v1", "lr-v1", "high", "high", 1.0, 0.7),
        ("e7", D24, "xgb-v1", "lr-v1", "low", "low", 0.1, 0.0),
    ]


def test_daily_comparison_per_version_pair_matches_the_hand_worked_figures(compared: Warehouse) -> None:
    rows = compared.fetchall(
        "SELECT day, champion_version, shadow_version, events, same_band, agreement_pct, flips_up, flips_down, "
        "into_high, out_of_high, champion_high_pct, shadow_high_pct, champion_mean_score, shadow_mean_score "
        "FROM v_shadow_comparison_daily ORDER BY day, shadow_version"
    )
    assert [_plain(r) for r in rows] == [
        # e1..e5: e1, e5 same (2 of 5); e2, e3 up; e4 down; e3 into high, e4 out of high; champion high e4, e5;
        # shadow high e3, e5; means (0.05 + 0.25 + 0.5 + 0.9 + 1.0) / 5 and (0.12 + 0.35 + 0.8 + 0.6 + 0.7) / 5.
        (D23, "xgb-v1", "lr-v1", 5, 2, 40.0, 2, 1, 1, 1, 40.0, 40.0, 0.54, 0.514),
        (D23, "xgb-v1", "lr-v2", 1, 0, 0.0, 1, 0, 1, 0, 0.0, 100.0, 0.05, 0.75),  # e1 alone, low -> high
        (D24, "xgb-v1", "lr-v1", 1, 1, 100.0, 0, 0, 0, 0, 0.0, 0.0, 0.1, 0.0),
    ]


def test_score_histogram_gives_both_models_ten_buckets_over_the_same_events(compared: Warehouse) -> None:
    rows = compared.fetchall(
        "SELECT bucket, champion_events, shadow_events FROM v_shadow_score_histogram_daily "
        "WHERE day = '2026-11-23' AND shadow_version = 'lr-v1' ORDER BY bucket"
    )
    champion = {0: 1, 2: 1, 5: 1, 9: 2}  # 0.05, 0.25, 0.5, 0.9 and 1.0
    shadow = {1: 1, 3: 1, 6: 1, 7: 1, 8: 1}  # 0.12, 0.35, 0.6, 0.7, 0.8
    assert [tuple(r) for r in rows] == [(k, champion.get(k, 0), shadow.get(k, 0)) for k in range(10)]
    (n,) = compared.fetchall("SELECT COUNT(*) FROM v_shadow_score_histogram_daily")[0]
    assert n == 30  # three (day, version pair) groups of ten buckets
