"""The MERGE loader on a real PostgreSQL 16 (through redshift-connector), same SQL as on Redshift."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
import pytest
import sqlglot

from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import to_record, to_row
from risk.warehouse import connection as connection_module
from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.loader import (
    MAX_BIND_PARAMETERS,
    MAX_ROWS_PER_INSERT,
    LoadResult,
    insert_statement,
    load_batch,
    sql_literal,
    statement_budget,
)
from tests.load.conftest import LOADED, CountingConnection, make_rows, make_scored
from tools.pg.local import LocalPostgres


def count(warehouse: Warehouse) -> int:
    return int(warehouse.scalar("SELECT COUNT(*) FROM risk_events"))


def stored(warehouse: Warehouse, event_id: str) -> dict[str, Any]:
    row = warehouse.fetchone(f"SELECT {', '.join(COLUMN_NAMES)} FROM risk_events WHERE event_id = %s", [event_id])
    assert row is not None, event_id
    return dict(zip(COLUMN_NAMES, row, strict=True))


def test_a_batch_loads_every_column(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    rows = make_rows(3, keys)
    assert load_batch(warehouse, rows) == LoadResult(rows_in=3, distinct=3, inserted=3, duplicates=0)
    assert count(warehouse) == 3
    got = stored(warehouse, "evt-00001")
    expected = dict(zip(COLUMN_NAMES, rows[1], strict=True))
    for name, kind in RISK_EVENTS_COLUMNS:
        if kind == "super":
            assert as_json(got[name]) == as_json(expected[name]), name
        elif kind == "decimal":
            assert got[name] == Decimal(str(expected[name])), name
        else:
            assert got[name] == expected[name], name


def as_json(text: str) -> Any:
    return orjson.loads(text)


def test_a_redelivered_batch_leaves_one_row_per_event(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    rows = make_rows(50, keys)
    load_batch(warehouse, rows)
    again = load_batch(warehouse, rows)
    assert again == LoadResult(rows_in=50, distinct=50, inserted=0, duplicates=50)
    assert again.already_loaded == 50
    assert count(warehouse) == 50
    assert warehouse.scalar("SELECT COUNT(DISTINCT event_id) FROM risk_events") == 50


def test_an_overlapping_batch_inserts_only_the_new_events(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    load_batch(warehouse, make_rows(10, keys))
    result = load_batch(warehouse, make_rows(15, keys))  # evt-00000..09 again, 10..14 new
    assert result == LoadResult(rows_in=15, distinct=15, inserted=5, duplicates=10)
    assert count(warehouse) == 15


def test_the_same_event_twice_in_a_batch_loads_once_keeping_the_first(
    warehouse: Warehouse, keys: Pseudonymiser
) -> None:
    first = to_row(to_record(make_scored("evt-dup", score=0.1), keys, LOADED))
    second = to_row(to_record(make_scored("evt-dup", score=0.9), keys, LOADED))
    other = to_row(to_record(make_scored("evt-other"), keys, LOADED))
    assert load_batch(warehouse, [first, other, second]) == LoadResult(3, 2, 2, 1)
    assert count(warehouse) == 2
    assert stored(warehouse, "evt-dup")["score"] == 0.1


def test_a_redelivery_never_changes_a_loaded_row(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    load_batch(warehouse, [to_row(to_record(make_scored("evt-x", score=0.2), keys, LOADED))])
    before = stored(warehouse, "evt-x")
    changed = make_scored("evt-x", score=0.95, amount=1.0)
    later = LOADED.replace(hour=5)
    assert load_batch(warehouse, [to_row(to_record(changed, keys, later))]).inserted == 0
    assert stored(warehouse, "evt-x") == before


def test_an_empty_batch_runs_nothing(counting: tuple[Warehouse, CountingConnection]) -> None:
    warehouse, connection = counting
    assert load_batch(warehouse, []) == LoadResult(0, 0, 0, 0)
    assert connection.statements == []


@pytest.mark.parametrize("size", [100, 1_000, 2_500])
def test_statement_count_is_within_budget(
    counting: tuple[Warehouse, CountingConnection], keys: Pseudonymiser, size: int
) -> None:
    warehouse, connection = counting
    result = load_batch(warehouse, make_rows(size, keys))
    assert result.inserted == size
    chunks = math.ceil(size / MAX_ROWS_PER_INSERT)
    assert len(connection.statements) == 4 + chunks <= statement_budget(size)
    inserts = [s for s in connection.statements if s.startswith("INSERT INTO risk_events_stage")]
    assert len(inserts) == chunks
    assert count(warehouse) == size


def test_a_full_chunk_stays_under_the_driver_bind_limit(keys: Pseudonymiser) -> None:
    sql, params = insert_statement(make_rows(MAX_ROWS_PER_INSERT, keys), 0)
    assert sql.count("%s") == len(params) <= MAX_BIND_PARAMETERS


def test_the_stage_insert_is_dialect_neutral(keys: Pseudonymiser) -> None:
    """It bypasses the Redshift->PostgreSQL rendering, so both dialects must read it identically."""
    sql, _ = insert_statement([*make_rows(3, keys), to_row(to_record(make_scored(geo=None), keys, LOADED))], 0)
    as_redshift = sqlglot.parse_one(sql, read="redshift")
    as_postgres = sqlglot.parse_one(sql, read="postgres")
    assert as_redshift == as_postgres
    assert as_redshift.sql(dialect="postgres") == as_redshift.sql(dialect="redshift")


def test_a_failure_mid_batch_rolls_back_everything(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    load_batch(warehouse, make_rows(5, keys, prefix="old"))
    rows = make_rows(1_500, keys)
    # The last row breaks a constraint in the second chunk: VARCHAR(64) event_id.
    rows[-1] = to_row(to_record(make_scored("x" * 65), keys, LOADED))
    with pytest.raises(Exception, match="value too long"):
        load_batch(warehouse, rows)
    assert count(warehouse) == 5  # nothing of the failed batch, the earlier batch untouched
    # The connection is usable again and the stage table is gone with the rolled-back transaction.
    assert load_batch(warehouse, make_rows(2, keys)).inserted == 2
    assert warehouse.scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'risk_events_stage'") == 0


def test_the_server_stopping_mid_batch_commits_nothing(
    pg_server: LocalPostgres, pg_dsn: str, keys: Pseudonymiser
) -> None:
    """The warehouse goes away between the stage inserts and the MERGE: nothing is committed."""

    class StopBeforeMerge(CountingConnection):
        def cursor(self) -> Any:
            if any(s.startswith("DELETE FROM risk_events_stage") for s in self.statements):
                pg_server.stop()
            return super().cursor()

    with connect_dsn(pg_dsn) as real:
        doomed = Warehouse(StopBeforeMerge(real.connection), real.dialect)
        try:
            with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a dead socket
                load_batch(doomed, make_rows(1_200, keys))
        finally:
            pg_server.restart()
    with connect_dsn(pg_dsn) as after:
        assert count(after) == 0
        assert load_batch(after, make_rows(3, keys)).inserted == 3


@pytest.mark.parametrize(
    ("kind", "value", "literal"),
    [
        ("int", 7, "7"),
        ("bool", True, "TRUE"),
        ("bool", False, "FALSE"),
        ("double", 0.1, "0.1"),
        ("double", 1e-05, "1e-05"),
        ("decimal", 129.95, "129.95"),
        ("decimal", 3, "3"),
        ("decimal", Decimal("2.5000"), "2.5000"),
        ("text", None, "NULL"),
    ],
)
def test_sql_literals(kind: str, value: Any, literal: str) -> None:
    assert sql_literal(kind, value) == literal
    if kind == "double":
        assert float(literal) == value  # reads back as the same double


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("text", "x'); DROP TABLE risk_events; --"),
        ("int", True),
        ("int", 1.5),
        ("double", math.nan),
        ("double", math.inf),
        ("bool", 1),
        ("double", "1"),
        ("super", "{}"),
    ],
)
def test_sql_literal_refuses_anything_that_must_be_bound(kind: str, value: Any) -> None:
    with pytest.raises(TypeError):
        sql_literal(kind, value)


def test_the_driver_statement_cache_stays_bounded_over_many_batches(
    warehouse: Warehouse, keys: Pseudonymiser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every multi-row INSERT is a new text; a warm container must not keep each one forever."""
    limit = 4
    monkeypatch.setattr(connection_module, "DRIVER_STATEMENT_CACHE_LIMIT", limit)

    def cached() -> int:
        return max(len(c["statement"]) for by_pid in warehouse.connection._caches.values() for c in by_pid.values())

    batches = 3 * limit  # far more distinct INSERT texts than the limit
    for batch in range(batches):
        rows = make_rows(2, keys, prefix=f"b{batch}")
        score = COLUMN_NAMES.index("score")
        rows = [(*r[:score], batch / 1000, *r[score + 1 :]) for r in rows]  # numbers are literals: a new text
        load_batch(warehouse, rows)
        assert cached() <= limit + 8  # at most one batch's statements above the limit
    assert count(warehouse) == 2 * batches
