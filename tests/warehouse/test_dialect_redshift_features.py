"""Redshift features the schema uses as Redshift runs them: checked by shape, rendered for PostgreSQL.

SUPER unnesting (PartiQL ``AT``), SUPER navigation (``arr[n]``) and materialized views with auto
refresh stay in the migrations as Redshift needs them; the stand-in runs an equivalent whose
results the view tests check (test_reason_codes.py, test_outcomes.py).
"""

from __future__ import annotations

import pytest
from sqlglot import exp

from risk.warehouse.dialect import SqlError, parse_redshift, postgres_omissions, render_postgres, split_statements
from tests.conftest import SCHEMA_DIR


def _statements(filename: str) -> list[str]:
    return split_statements((SCHEMA_DIR / filename).read_text())


def _view(filename: str, name: str) -> str:
    return next(s for s in _statements(filename) if s.startswith(f"CREATE OR REPLACE VIEW {name} "))


@pytest.mark.parametrize("view", ["v_event_reasons", "v_event_missing_inputs"])
def test_reason_views_unnest_the_super_array_with_partiql_at_on_redshift(view: str) -> None:
    tree = parse_redshift(_view("V011__reason_codes.sql", view))
    assert tree is not None
    unnest = [join.this for join in tree.find_all(exp.Join) if isinstance(join.this, exp.AtIndex)]
    assert [(u.this.this.sql(), u.this.alias, u.expression.name) for u in unnest] == [("e.reason_codes", "r", "i")]


def test_partiql_unnesting_renders_as_a_zero_based_lateral_on_postgres() -> None:
    rendered = render_postgres("SELECT e.id, r, i FROM t AS e, e.arr AS r AT i").sql
    assert rendered == (
        "SELECT e.id, r, i FROM t AS e CROSS JOIN LATERAL (SELECT value AS r, ordinality - 1 AS i "
        "FROM JSONB_ARRAY_ELEMENTS_TEXT(e.arr) WITH ORDINALITY) AS r_unnested"
    )


def test_super_navigation_keeps_redshifts_zero_based_index_on_postgres() -> None:
    rendered = render_postgres("SELECT CAST(reason_codes[0] AS VARCHAR(64)) AS top FROM risk_events").sql
    assert (
        rendered
        == "SELECT CAST(JSONB_EXTRACT_PATH_TEXT(reason_codes, '0') AS redshift_varchar_64) AS top FROM risk_events"
    )


def test_super_navigation_by_a_computed_index_is_refused_on_postgres() -> None:
    with pytest.raises(SqlError, match="needs a literal index"):
        render_postgres("SELECT reason_codes[n] FROM risk_events")


def test_an_auto_refreshed_materialized_view_renders_as_a_view_on_postgres() -> None:
    statement = "CREATE MATERIALIZED VIEW mv_x BACKUP NO AUTO REFRESH YES AS SELECT risk_band FROM risk_events"
    tree = parse_redshift(statement)
    assert tree is not None and tree.find(exp.AutoRefreshProperty) is not None
    assert render_postgres(statement).sql == "CREATE VIEW mv_x AS SELECT risk_band FROM risk_events"


def test_outcome_and_reason_migrations_lose_only_distribution_encodings_and_masking() -> None:
    labels = postgres_omissions((SCHEMA_DIR / "V010__risk_labels_and_analyst_sandbox.sql").read_text())
    assert [item for item in labels if ": ENCODE " not in item] == [
        "risk_labels: DISTSTYLE KEY",
        "risk_labels: DISTKEY(user_id)",
        "MASKING POLICY: ATTACH MASKING POLICY mask_identifier ON risk_labels(user_id) TO ROLE risk_analyst",
    ]
    reasons = postgres_omissions((SCHEMA_DIR / "V011__reason_codes.sql").read_text())
    assert [item for item in reasons if ": ENCODE " not in item] == ["reason_codes: DISTSTYLE ALL"]
    outcomes = postgres_omissions((SCHEMA_DIR / "V012__outcomes_precision_recall.sql").read_text())
    assert [item for item in outcomes if ": ENCODE " not in item] == ["risk_bands: DISTSTYLE ALL"]


def test_every_bi_materialized_view_refreshes_automatically_on_redshift() -> None:
    views = {}
    for statement in _statements("V013__fx_rates_and_bi_views.sql"):
        tree = parse_redshift(statement)
        if tree is not None and tree.find(exp.MaterializedProperty) is not None:
            auto = tree.find(exp.AutoRefreshProperty)
            views[tree.this.name] = auto is not None and auto.this.name.upper() == "YES"
    assert views == {
        "mv_merchant_risk_daily": True,
        "mv_country_risk_daily": True,
        "mv_channel_risk_daily": True,
        "mv_score_histogram_hourly": True,
        "mv_flagged_events_daily": True,
    }


def test_sha2_hashes_the_same_utf8_hex_on_postgres() -> None:
    rendered = render_postgres("SELECT SHA2(merchant_id, 256) FROM risk_events").sql
    assert rendered == "SELECT ENCODE(SHA256(CONVERT_TO(merchant_id, 'UTF8')), 'hex') FROM risk_events"


def test_the_bi_layer_loses_only_distribution_and_encodings() -> None:
    omissions = postgres_omissions((SCHEMA_DIR / "V013__fx_rates_and_bi_views.sql").read_text())
    assert [item for item in omissions if ": ENCODE " not in item] == ["fx_rates: DISTSTYLE ALL"]
