"""Reasons as rows: the dictionary matches the scorers' codes; one row per event and risk reason."""

from __future__ import annotations

import re
from datetime import datetime

from risk.score.scorers.rules import RULES
from risk.warehouse.connection import Warehouse
from risk.warehouse.dialect import split_statements
from risk.warehouse.migrations import default_directory
from risk.warehouse.reason_codes import MISSING_INPUT, RULE, catalogue, migration_sql
from tests.warehouse.rows import event_row, insert_events

T0 = datetime(2026, 11, 2, 10, 0)


def _dictionary_inserts() -> list[str]:
    """Every INSERT INTO reason_codes of every migration, in version order."""
    return [
        statement
        for path in sorted(default_directory().glob("V*.sql"))
        for statement in split_statements(path.read_text())
        if statement.startswith("INSERT INTO reason_codes")
    ]


def test_the_migrations_insert_exactly_the_catalogue_generated_from_the_scorers() -> None:
    # A scorer that gains a code fails this: add a migration with migration_sql(<the new codes>).
    by_code = {c.code: c for c in catalogue()}
    inserted: list[str] = []
    for statement in _dictionary_inserts():
        codes = re.findall(r"^    \('([A-Z0-9_]+)'", statement, re.M)
        assert statement == migration_sql(by_code[c] for c in codes).strip().rstrip(";")
        inserted += codes
    assert sorted(inserted) == sorted(by_code)  # each code once, none missing


def test_the_catalogue_names_every_rule_and_keeps_missing_inputs_apart() -> None:
    kinds = {code.code: code.kind for code in catalogue()}
    assert {rule.code for rule in RULES} <= {code for code, kind in kinds.items() if kind == RULE}
    assert {code for code, kind in kinds.items() if kind == MISSING_INPUT} == {"MISSING_AMOUNT", "MISSING_GEO"}


def test_the_dictionary_table_holds_the_catalogue(warehouse: Warehouse) -> None:
    with warehouse.transaction():
        rows = warehouse.fetchall("SELECT reason_code, kind, description FROM reason_codes ORDER BY reason_code")
    assert [tuple(row) for row in rows] == [(c.code, c.kind, c.description) for c in catalogue()]


def test_event_reasons_are_one_row_per_risk_reason_ranked_without_missing_inputs(warehouse: Warehouse) -> None:
    insert_events(
        warehouse,
        [
            event_row("e1", "u1", T0, 0.9, "high", reason_codes=["IMPOSSIBLE_TRAVEL", "MISSING_AMOUNT", "COUNT_1H"]),
            event_row("e2", "u2", T0, 0.1, "low", reason_codes=["MISSING_GEO"]),
            event_row("e3", "u3", T0, 0.5, "medium", reason_codes=["SOMETHING_NEW"]),
            event_row("e4", "u4", T0, 0.1, "low", reason_codes=[]),
        ],
    )
    with warehouse.transaction():
        reasons = warehouse.fetchall(
            "SELECT event_id, reason_rank, reason_code, reason_kind FROM v_event_reasons ORDER BY event_id, reason_rank"
        )
        missing = warehouse.fetchall("SELECT event_id, reason_code FROM v_event_missing_inputs ORDER BY event_id")
    assert [tuple(r) for r in reasons] == [
        ("e1", 1, "IMPOSSIBLE_TRAVEL", "rule"),
        ("e1", 2, "COUNT_1H", "model_feature"),
        ("e3", 1, "SOMETHING_NEW", "unknown"),
    ]
    assert [tuple(r) for r in missing] == [("e1", "MISSING_AMOUNT"), ("e2", "MISSING_GEO")]
