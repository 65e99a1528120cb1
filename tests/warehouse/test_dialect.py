"""What the PostgreSQL rendering maps and leaves out, listed exactly."""

from __future__ import annotations

import pytest

from risk.warehouse.columns import COLUMN_NAMES
from risk.warehouse.dialect import SqlError, parse_redshift, postgres_omissions, render, render_postgres
from tests.conftest import SCHEMA_DIR

TABLE_CLAUSES_LEFT_OUT = [
    "risk_events: DISTSTYLE KEY",
    "risk_events: DISTKEY(user_id)",
    "risk_events: PRIMARY KEY (event_id) (informational in Redshift)",
]
MASKING_LEFT_OUT = [
    "MASKING POLICY: CREATE MASKING POLICY mask_pseudonymised_key WITH (pseudonym VARCHAR(128)) "
    "USING (SHA2(pseudonym, 256))",
    "MASKING POLICY: ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(ip_key) TO ROLE risk_analyst",
    "MASKING POLICY: ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(device_key) TO ROLE risk_analyst",
    "MASKING POLICY: ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(email_key) TO ROLE risk_analyst",
]


def _omissions(filename: str) -> list[str]:
    return postgres_omissions((SCHEMA_DIR / filename).read_text())


def test_risk_events_loses_exactly_distribution_the_unenforced_key_and_encodings() -> None:
    omissions = [
        item
        for name in ("V001__risk_events.sql", "V014__drill_through_columns.sql", "V015__band_thresholds_per_row.sql")
        for item in _omissions(name)
    ]
    encodings = [item for item in omissions if ": ENCODE " in item]
    assert [item for item in omissions if item not in encodings] == TABLE_CLAUSES_LEFT_OUT
    # Columns added later (ALTER TABLE ... ADD COLUMN, V020 onward) carry their encodings too.
    for later in ("V020__relative_features.sql", "V021__shadow_scores.sql", "V024__reason_contributions.sql"):
        added = _omissions(later)
        assert all(": ENCODE " in item for item in added)
        encodings += added
    assert [item.split(":")[0] for item in encodings] == [f"risk_events.{name}" for name in COLUMN_NAMES]
    assert "risk_events.occurred_at: ENCODE raw" in encodings


def test_varchar_counts_bytes_and_the_sort_key_becomes_an_index() -> None:
    rendered = render_postgres(
        "CREATE TABLE t (a VARCHAR(8) NOT NULL, b VARCHAR(64), c INTEGER, PRIMARY KEY (a)) COMPOUND SORTKEY (c, a)"
    )
    assert rendered.sql == "CREATE TABLE t (a redshift_varchar_8 NOT NULL, b redshift_varchar_64, c INT)"
    assert rendered.before == (
        "DO $$ BEGIN CREATE DOMAIN redshift_varchar_8 AS VARCHAR(8) CHECK (octet_length(VALUE) <= 8); "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        "DO $$ BEGIN CREATE DOMAIN redshift_varchar_64 AS VARCHAR(64) CHECK (octet_length(VALUE) <= 64); "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    assert rendered.after == ("CREATE INDEX IF NOT EXISTS t_sortkey ON t (c, a)",)
    assert rendered.omissions == ("t: PRIMARY KEY (a) (informational in Redshift)",)
    assert render("SELECT CAST(x AS VARCHAR(3)) FROM t", "postgres") == "SELECT CAST(x AS redshift_varchar_3) FROM t"


def test_views_and_grants_lose_nothing() -> None:
    assert _omissions("V002__views.sql") == []
    assert _omissions("V003__roles_and_grants.sql") == []
    assert _omissions("V005__serialised_loads.sql") == ["risk_events_load_lock: DISTSTYLE ALL"]
    assert _omissions("V007__eraser_role.sql") == []


def test_masking_policies_are_left_out_whole() -> None:
    assert _omissions("V004__mask_pseudonymised_keys.sql") == MASKING_LEFT_OUT
    extended = _omissions("V008__mask_identifiers_coordinates_metadata.sql")
    assert len(extended) == 16 and all(item.startswith("MASKING POLICY: ") for item in extended)


def test_assumerole_is_revoked_from_public_and_granted_to_the_loader_for_copy_only() -> None:
    assert _omissions("V006__copy_role_for_the_loader_only.sql") == [
        "ASSUMEROLE: REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL",
        "ASSUMEROLE: GRANT ASSUMEROLE ON default TO ROLE risk_loader FOR COPY",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "GRANT ASSUMEROLE ON default TO ROLE risk_loader",  # no FOR
        "GRANT ASSUMEROLE ON risk_copy TO ROLE risk_loader FOR COPY",  # neither default, ALL nor an ARN
        "REVOKE ASSUMEROLE ON ALL TO PUBLIC FOR ALL",  # REVOKE ... FROM
        "GRANT ASSUMEROLE ON default TO ROLE risk_loader FOR DELETE",
    ],
)
def test_malformed_assumerole_statements_are_rejected(statement: str) -> None:
    with pytest.raises(SqlError, match="malformed ASSUMEROLE"):
        parse_redshift(statement)


def test_assumerole_on_an_arn_is_accepted() -> None:
    assert parse_redshift("GRANT ASSUMEROLE ON 'arn:aws:iam::123456789012:role/r' TO u FOR COPY, UNLOAD") is None


def test_super_and_json_parse_map_to_jsonb_and_placeholders_survive() -> None:
    sql = "INSERT INTO t (a, b) VALUES (%s, JSON_PARSE(%s)), (%s, JSON_PARSE(%s))"
    assert render(sql, "postgres") == "INSERT INTO t (a, b) VALUES (%s, CAST(%s AS JSONB)), (%s, CAST(%s AS JSONB))"
    assert render("CREATE TEMP TABLE s (m SUPER)", "postgres") == "CREATE TEMPORARY TABLE s (m JSONB)"
    assert render(sql, "redshift") == sql


def test_roles_are_created_idempotently_and_grants_drop_the_role_keyword() -> None:
    created = render_postgres("CREATE ROLE risk_bi").sql
    assert created == "DO $$ BEGIN CREATE ROLE risk_bi; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    assert render("GRANT SELECT ON v TO ROLE risk_bi", "postgres") == "GRANT SELECT ON v TO risk_bi"


def test_invalid_sql_and_malformed_masking_statements_are_rejected() -> None:
    with pytest.raises(SqlError):
        parse_redshift("SELECT FROM WHERE (")
    with pytest.raises(SqlError, match="malformed masking policy"):
        parse_redshift("ATTACH MASKING POLICY p ON t TO ROLE r")


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        render("SELECT 1", "mysql")
