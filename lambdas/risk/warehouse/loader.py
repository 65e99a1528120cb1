"""Exactly-once loading of a batch into ``risk_events``: stage, dedupe, insert-only MERGE, one transaction.

The statements of one batch (Redshift SQL; the PostgreSQL stand-in runs the rendering)::

    1  CREATE TEMP TABLE risk_events_stage AS SELECT <columns> FROM risk_events WHERE 1 = 0
    n  INSERT INTO risk_events_stage (...) VALUES (...), (...), ...     one per <= 1,000 rows
    1  DELETE FROM risk_events_stage WHERE <not the first copy of its event_id> OR <event_id already loaded>
    1  MERGE INTO risk_events USING risk_events_stage ... WHEN NOT MATCHED THEN INSERT ...
    1  DROP TABLE risk_events_stage
       COMMIT

so a batch of ``n`` rows costs ``4 + ceil(n / 1000)`` statements, never one per row.

Why the DELETE: Redshift's MERGE takes a table (not a subquery) as its source and requires a
``WHEN MATCHED`` clause next to ``WHEN NOT MATCHED``; and redshift-connector reports no row count
for MERGE (its command-tag parser knows INSERT, DELETE, UPDATE, COPY, ... but not MERGE: ``rowcount``
stays -1 on both engines). Deleting, in the stage, every copy of an event_id but the first
(``ROW_NUMBER()`` over the batch order) and every event_id the table already holds makes the stage
exactly the set of new events, and the DELETE's row count gives ``inserted = rows_in - deleted``
on either engine. The MERGE's ``WHEN MATCHED`` branch is then a no-op update
(``loaded_at = risk_events.loaded_at``) that only a concurrent load of the same event could reach:
the policy is insert-only, first committed copy wins, a redelivery never changes a loaded row.

Bind parameters: redshift-connector refuses statements with more than 32,767 of them. Text,
timestamp and SUPER (JSON text) values are bound (17 a row); numbers, booleans and NULL, which
cannot carry SQL, are written as literals by :func:`sql_literal` after a strict type check. A
1,000-row statement then binds 17,000 values. The INSERT statement is dialect-neutral by
construction (column names, ``%s`` and those literals), so it goes to the driver as written instead
of through the sqlglot rendering, which would re-parse 200 kB of SQL per chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS, RISK_EVENTS_TABLE
from risk.warehouse.connection import Warehouse

STAGE_TABLE = "risk_events_stage"
ORDINAL_COLUMN = "batch_ord"  # position in the batch: which copy of a duplicated event_id is kept
MAX_ROWS_PER_INSERT = 1_000
MAX_BIND_PARAMETERS = 32_767  # redshift-connector's limit per statement
FIXED_STATEMENTS = 4  # CREATE stage, DELETE, MERGE, DROP
BOUND_KINDS = frozenset({"text", "timestamp", "super"})
_SUPER_STAGE_TYPE = "VARCHAR(65535)"  # JSON text in the stage; JSON_PARSE in the MERGE makes it SUPER

Row = Sequence[Any]


class LoadError(RuntimeError):
    """The batch did not load; the transaction was rolled back."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    rows_in: int  # rows in the batch
    distinct: int  # distinct event_ids in the batch
    inserted: int  # rows the MERGE added to risk_events
    duplicates: int  # rows_in - inserted: copies within the batch plus events already loaded

    @property
    def already_loaded(self) -> int:
        """Distinct events of the batch the table held before (redeliveries)."""
        return self.distinct - self.inserted


def statement_budget(rows: int) -> int:
    """The most statements :func:`load_batch` may run for ``rows`` rows."""
    return 0 if rows == 0 else FIXED_STATEMENTS + math.ceil(rows / MAX_ROWS_PER_INSERT)


def _bound_per_row() -> int:
    return sum(1 for _, kind in RISK_EVENTS_COLUMNS if kind in BOUND_KINDS)


assert _bound_per_row() * MAX_ROWS_PER_INSERT <= MAX_BIND_PARAMETERS, "a full chunk would exceed the bind limit"


def sql_literal(kind: str, value: Any) -> str:
    """A number, boolean or NULL as SQL text; anything else is refused (it must be bound instead)."""
    if value is None:
        return "NULL"
    if kind == "bool":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return str(int(value))
    elif kind in ("double", "decimal"):
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            return str(int(value))
        elif isinstance(value, float) and math.isfinite(value):
            return repr(float(value))  # shortest text that reads back as the same double
        elif isinstance(value, Decimal) and value.is_finite():
            return str(value)
    raise TypeError(f"no SQL literal for a {kind} column from {type(value).__name__} {value!r:.80}")


# --- the statements (Redshift SQL) -------------------------------------------------------------

_STAGE_SELECT = ", ".join(
    f"CAST(NULL AS {_SUPER_STAGE_TYPE}) AS {name}" if kind == "super" else name for name, kind in RISK_EVENTS_COLUMNS
)
CREATE_STAGE = (
    f"CREATE TEMP TABLE {STAGE_TABLE} AS "
    f"SELECT {_STAGE_SELECT}, CAST(NULL AS INTEGER) AS {ORDINAL_COLUMN} FROM {RISK_EVENTS_TABLE} WHERE 1 = 0"
)
_INSERT_HEAD = f"INSERT INTO {STAGE_TABLE} ({', '.join(COLUMN_NAMES)}, {ORDINAL_COLUMN}) VALUES "
DEDUPE_STAGE = (
    f"DELETE FROM {STAGE_TABLE} WHERE {ORDINAL_COLUMN} IN ("
    f"SELECT {ORDINAL_COLUMN} FROM ("
    f"SELECT {ORDINAL_COLUMN}, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {ORDINAL_COLUMN}) AS copy_number "
    f"FROM {STAGE_TABLE}) AS ranked WHERE copy_number > 1"
    f") OR event_id IN (SELECT event_id FROM {RISK_EVENTS_TABLE})"
)
_MERGE_VALUES = ", ".join(
    f"JSON_PARSE(s.{name})" if kind == "super" else f"s.{name}" for name, kind in RISK_EVENTS_COLUMNS
)
MERGE_STAGE = (
    f"MERGE INTO {RISK_EVENTS_TABLE} USING {STAGE_TABLE} AS s ON {RISK_EVENTS_TABLE}.event_id = s.event_id "
    f"WHEN MATCHED THEN UPDATE SET loaded_at = {RISK_EVENTS_TABLE}.loaded_at "
    f"WHEN NOT MATCHED THEN INSERT ({', '.join(COLUMN_NAMES)}) VALUES ({_MERGE_VALUES})"
)
DROP_STAGE = f"DROP TABLE {STAGE_TABLE}"


def insert_statement(rows: Sequence[Row], first_ordinal: int) -> tuple[str, list[Any]]:
    """One multi-row INSERT into the stage: its text and its bound values."""
    tuples: list[str] = []
    params: list[Any] = []
    for offset, row in enumerate(rows):
        if len(row) != len(RISK_EVENTS_COLUMNS):
            raise ValueError(f"a row has {len(row)} values; risk_events has {len(RISK_EVENTS_COLUMNS)} columns")
        slots: list[str] = []
        for (_, kind), value in zip(RISK_EVENTS_COLUMNS, row, strict=True):
            if kind in BOUND_KINDS and value is not None:
                slots.append("%s")
                params.append(value)
            else:
                slots.append(sql_literal(kind, value))
        slots.append(str(first_ordinal + offset))
        tuples.append(f"({', '.join(slots)})")
    return _INSERT_HEAD + ", ".join(tuples), params


def _execute_as_written(warehouse: Warehouse, sql: str, params: Sequence[Any]) -> int:
    """Run a dialect-neutral statement without the Redshift->PostgreSQL rendering (see the module doc)."""
    cursor = warehouse.connection.cursor()
    try:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def load_batch(warehouse: Warehouse, rows: Sequence[Row]) -> LoadResult:
    """Load ``rows`` (values in ``COLUMN_NAMES`` order) in one transaction; raises after rolling back."""
    if not rows:
        return LoadResult(0, 0, 0, 0)
    event_id_at = COLUMN_NAMES.index("event_id")
    distinct = len({row[event_id_at] for row in rows})
    with warehouse.transaction():
        warehouse.execute(CREATE_STAGE)
        staged = 0
        for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
            sql, params = insert_statement(rows[start : start + MAX_ROWS_PER_INSERT], start)
            staged += _execute_as_written(warehouse, sql, params)
        if staged != len(rows):
            raise LoadError(f"staged {staged} rows of {len(rows)}")
        deleted = warehouse.execute(DEDUPE_STAGE)
        if deleted < 0:
            raise LoadError("the driver reported no row count for the stage dedupe")
        warehouse.execute(MERGE_STAGE)
        warehouse.execute(DROP_STAGE)
    inserted = len(rows) - deleted
    return LoadResult(rows_in=len(rows), distinct=distinct, inserted=inserted, duplicates=len(rows) - inserted)
