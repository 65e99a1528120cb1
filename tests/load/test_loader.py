"""The loader on a real PostgreSQL 16 set up like Redshift (through redshift-connector), same SQL as on Redshift."""

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
from risk.warehouse import loader
from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.dialect import parse_redshift
from risk.warehouse.loader import (
    BULK_STAGE_POSTGRES,
    FIXED_STATEMENTS,
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


def _work(statements: list[str]) -> list[str]:
    """The statements of the load itself: the stand-in's once-per-connection domain set-up is not one."""
    return [s for s in statements if not s.startswith("DO $$ BEGIN CREATE DOMAIN")]


@pytest.mark.parametrize("size", [100, 1_000, 2_500])
def test_statement_count_is_within_budget_with_inserts(
    counting: tuple[Warehouse, CountingConnection], keys: Pseudonymiser, size: int
) -> None:
    warehouse, connection = counting
    result = load_batch(warehouse, make_rows(size, keys), bulk_min_rows=10_000)
    assert result.inserted == size
    chunks = math.ceil(size / MAX_ROWS_PER_INSERT)
    assert len(_work(connection.statements)) == FIXED_STATEMENTS + chunks == statement_budget(size)
    inserts = [s for s in connection.statements if s.startswith("INSERT INTO risk_events_stage")]
    assert len(inserts) == chunks
    assert count(warehouse) == size


@pytest.mark.parametrize("size", [500, 2_500])
def test_the_bulk_path_stages_in_one_statement(
    counting: tuple[Warehouse, CountingConnection], keys: Pseudonymiser, size: int
) -> None:
    warehouse, connection = counting
    rows = make_rows(size, keys)
    assert load_batch(warehouse, rows, bulk_min_rows=500).inserted == size
    assert len(_work(connection.statements)) == FIXED_STATEMENTS + 1 == statement_budget(size, bulk_sources=1)
    assert [s for s in connection.statements if "json_populate_recordset" in s] == [BULK_STAGE_POSTGRES]
    assert count(warehouse) == size
    # Same values as the INSERT path would have stored, column for column.
    got = stored(warehouse, "evt-00007")
    for (name, kind), value in zip(RISK_EVENTS_COLUMNS, rows[7], strict=True):
        if kind == "super":
            assert as_json(got[name]) == as_json(value), name
        elif kind == "decimal":
            assert got[name] == Decimal(str(value)), name
        else:
            assert got[name] == value, name


def test_the_bulk_path_keeps_the_first_copy_and_skips_loaded_events(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    load_batch(warehouse, make_rows(600, keys)[:100], bulk_min_rows=1)
    first = to_row(to_record(make_scored("evt-dup", score=0.1), keys, LOADED))
    second = to_row(to_record(make_scored("evt-dup", score=0.9), keys, LOADED))
    rows = [*make_rows(600, keys), first, second]
    assert load_batch(warehouse, rows, bulk_min_rows=1) == LoadResult(602, 601, 501, 101)
    assert stored(warehouse, "evt-dup")["score"] == 0.1
    assert count(warehouse) == 601


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
        load_batch(warehouse, rows, bulk_min_rows=10_000)
    assert count(warehouse) == 5  # nothing of the failed batch, the earlier batch untouched
    # The connection is usable again and the stage table is gone with the rolled-back transaction.
    assert load_batch(warehouse, make_rows(2, keys)).inserted == 2
    assert warehouse.scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'risk_events_stage'") == 0


def test_the_server_stopping_mid_batch_commits_nothing(
    pg_server: LocalPostgres, pg_dsn: str, keys: Pseudonymiser
) -> None:
    """The warehouse goes away between the stage and the publish step: nothing is committed."""

    class StopBeforeMerge(CountingConnection):
        def cursor(self) -> Any:
            if any(s.startswith("DELETE FROM risk_events_stage WHERE") for s in self.statements):
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


# --- Redshift's bulk path: COPY from the enriched objects (no Redshift here: checked by shape) -----


def test_every_loader_statement_is_redshift_sql() -> None:
    statements = [
        loader.CREATE_STAGE,
        loader.CREATE_STAGE_FOR_COPY,
        loader.DEDUPE_BATCH,
        loader.LOCK_LOADS,
        loader.DEDUPE_LOADED,
        loader.PUBLISH,
        loader.PUBLISH_FROM_COPY,
        loader.DROP_STAGE,
    ]
    for sql in statements:
        parse_redshift(sql)
    copy = parse_redshift(loader.copy_statement("s3://risk-archive/enriched/event_date=2026-11-24/ab12.jsonl"))
    assert isinstance(copy, sqlglot.exp.Copy)
    assert [f.this for f in copy.args["files"]] == ["s3://risk-archive/enriched/event_date=2026-11-24/ab12.jsonl"]
    assert [c.name for c in copy.this.expressions] == list(COLUMN_NAMES)
    params = {p.this.name: p.expression.this for p in copy.args["params"]}
    assert params == {"FORMAT AS JSON": "auto", "TIMEFORMAT": "auto"}
    assert "JSON_PARSE" not in loader.PUBLISH_FROM_COPY  # COPY fills SUPER columns itself
    assert "CAST(NULL AS VARCHAR(65535)) AS metadata" not in loader.CREATE_STAGE_FOR_COPY


@pytest.mark.parametrize("uri", ["s3://b/k'; DROP TABLE risk_events; --", "https://b/k", "s3://b/k\\"])
def test_copy_refuses_anything_but_a_plain_s3_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="s3://"):
        loader.copy_statement(uri)


class _RedshiftRecorder:
    """Records what the loader sends to Redshift and answers row counts as Redshift would for them."""

    def __init__(self, copied: dict[str, int], already_loaded: int) -> None:
        self.statements: list[str] = []
        self._copied = copied
        self._already_loaded = already_loaded
        self._staged = 0

    def cursor(self) -> Any:
        recorder = self

        class Cursor:
            rowcount = -1

            def execute(self, operation: str, args: Any = None) -> None:
                recorder.statements.append(operation)
                if operation.startswith("COPY "):
                    self.rowcount = recorder._copied[operation.split("'")[1]]
                    recorder._staged += self.rowcount
                elif operation.startswith("INSERT INTO risk_events_stage"):
                    self.rowcount = operation.count("), (") + 1
                    recorder._staged += self.rowcount
                elif operation.startswith("DELETE FROM risk_events_stage USING"):
                    self.rowcount = recorder._already_loaded
                elif operation.startswith("DELETE FROM risk_events_stage WHERE"):
                    self.rowcount = 0  # no copies inside these test batches
                elif operation.startswith("INSERT INTO risk_events ("):
                    self.rowcount = recorder._staged - recorder._already_loaded
                else:
                    self.rowcount = -1

            def close(self) -> None:
                """Nothing to release."""

        return Cursor()

    def commit(self) -> None:
        self.statements.append("COMMIT")

    def rollback(self) -> None:
        self.statements.append("ROLLBACK")

    def close(self) -> None:
        """Nothing to release."""


def test_on_redshift_a_large_batch_is_staged_by_copy_from_its_enriched_objects(keys: Pseudonymiser) -> None:
    rows = make_rows(1_200, keys)
    sources = ["s3://risk-archive/enriched/event_date=2024-05-01/b1.jsonl"]
    recorder = _RedshiftRecorder({sources[0]: 1_200}, already_loaded=200)
    result = load_batch(Warehouse(recorder, "redshift"), [*rows, rows[0]], bulk_sources=sources, bulk_min_rows=500)
    assert result == LoadResult(rows_in=1_201, distinct=1_200, inserted=1_000, duplicates=201)
    kinds = [s.split(" (")[0].split(" FROM")[0] for s in recorder.statements]
    assert kinds == [
        "CREATE TEMP TABLE risk_events_stage AS SELECT event_id, user_id, event_type, channel, schema_version, "
        + kinds[0].split("schema_version, ", 1)[1],
        "COPY risk_events_stage",
        "COMMIT",
        "LOCK risk_events_load_lock",
        "DELETE",
        "INSERT INTO risk_events",
        "DROP TABLE risk_events_stage",
        "COMMIT",
    ]
    assert recorder.statements[0] == loader.CREATE_STAGE_FOR_COPY
    assert recorder.statements[1] == loader.copy_statement(sources[0])
    assert len([s for s in recorder.statements if s != "COMMIT"]) <= statement_budget(1_201, bulk_sources=1)


def test_on_redshift_a_small_batch_or_one_without_objects_uses_inserts(keys: Pseudonymiser) -> None:
    for rows, sources in ((make_rows(10, keys), ["s3://b/enriched/x.jsonl"]), (make_rows(600, keys), [])):
        recorder = _RedshiftRecorder({}, already_loaded=0)
        load_batch(Warehouse(recorder, "redshift"), rows, bulk_sources=sources, bulk_min_rows=500)
        assert not [s for s in recorder.statements if s.startswith("COPY")]
        assert recorder.statements[0] == loader.CREATE_STAGE
