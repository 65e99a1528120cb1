"""Exactly-once loading of a batch into ``risk_events`` under snapshot isolation with no enforced key.

Redshift Serverless runs transactions under SNAPSHOT isolation and never enforces a primary key,
so two loads that each check "is this event_id loaded?" against their own snapshot would both
insert it. The load is therefore two transactions; only the second, short one is serialised:

**Stage** (any number of loaders at once; a session TEMP table)::

    CREATE TEMP TABLE risk_events_stage AS SELECT <columns> FROM risk_events WHERE 1 = 0
    <stage the rows>        k multi-row INSERTs (<= 1,000 rows each), or one bulk statement per source
    DELETE FROM risk_events_stage WHERE <not the first copy of its event_id in the batch>
    COMMIT

**Publish** (one loader at a time)::

    LOCK risk_events_load_lock            first statement: waits for the loader ahead to commit
    DELETE FROM risk_events_stage USING risk_events      one per 16 minute ranges the batch covers (usually 1)
     WHERE risk_events.event_id = risk_events_stage.event_id
       AND risk_events.occurred_at = risk_events_stage.occurred_at AND <occurred_at in the batch's minutes>
    INSERT INTO risk_events (...) SELECT ... FROM risk_events_stage
    DROP TABLE risk_events_stage
    COMMIT

``LOCK`` taken as a transaction's first statement makes the snapshot start after the lock is
granted (on Redshift and on PostgreSQL's REPEATABLE READ alike), so the publish step sees every
load committed before it, and no two publish steps overlap: an event is inserted by exactly one.
The lock is on a dedicated one-row-less table, not on ``risk_events``: Redshift's LOCK is ACCESS
EXCLUSIVE and would block analysts' reads too. Every writer of ``risk_events`` takes it.

The lookup of already-loaded events is bounded by the sort key: ``occurred_at`` within the minutes
the batch covers (literal ranges, which Redshift's zone maps prune on; see :func:`lookup_ranges`),
joined on ``occurred_at`` and ``event_id``. It relies on an ``event_id`` always carrying the same
``occurred_at`` (it names one event). A batch with an old backfilled event adds one minute range,
never the years in between; ranges are never widened to save a statement: each statement takes
:data:`RANGES_PER_LOOKUP` of them (padded, so its text never changes), and a batch spread over
more minute runs than that takes one more statement per 16.

Staging: small batches use multi-row INSERTs whose text and numbers are literal (see
:func:`sql_literal`) and whose text values are bound. At or above ``bulk_min_rows`` rows the
stage is filled server-side in bulk: on Redshift by ``COPY ... FORMAT JSON`` from the enriched
objects the load function has just written to S3 (they hold exactly the first copies of the
batch's events, with the same column names); on the PostgreSQL stand-in by one bound JSON
document expanded by ``json_populate_recordset`` (the equivalent server-side bulk path).

Counts: ``inserted`` is the INSERT's row count, checked against what the stage held after the
dedupe; ``duplicates = rows_in - inserted``. Statement budget: :func:`statement_budget`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from risk.events.limits import SUPER_STAGING_BYTES
from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS, RISK_EVENTS_TABLE
from risk.warehouse.connection import Warehouse, is_connection_error
from risk.warehouse.dialect import POSTGRES, REDSHIFT

STAGE_TABLE = "risk_events_stage"
LOAD_LOCK_TABLE = "risk_events_load_lock"  # redshift_schema/V005: serialises the publish step
ORDINAL_COLUMN = "batch_ord"  # position in the batch: which copy of a duplicated event_id is kept
MAX_ROWS_PER_INSERT = 1_000
MAX_BIND_PARAMETERS = 32_767  # redshift-connector's limit per statement
DEFAULT_BULK_MIN_ROWS = 500  # from this many rows the stage is filled by COPY (or its stand-in)
RANGES_PER_LOOKUP = 16  # occurred_at ranges per already-loaded lookup statement (one text: padded)
LOOKUP_BUCKET = timedelta(minutes=1)
FIXED_STATEMENTS = 6  # CREATE stage, in-batch DELETE, LOCK, one loaded DELETE, INSERT, DROP
BOUND_KINDS = frozenset({"text", "timestamp", "super"})
SUPER_STAGE_TYPE = f"VARCHAR({SUPER_STAGING_BYTES})"  # JSON text in the stage; JSON_PARSE on publish makes it SUPER
EVENT_ID_AT = COLUMN_NAMES.index("event_id")
OCCURRED_AT = COLUMN_NAMES.index("occurred_at")

Row = Sequence[Any]


class LoadError(RuntimeError):
    """The batch did not load; the transaction was rolled back."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    rows_in: int  # rows in the batch
    distinct: int  # distinct event_ids in the batch
    inserted: int  # rows added to risk_events
    duplicates: int  # rows_in - inserted: copies within the batch plus events already loaded

    @property
    def already_loaded(self) -> int:
        """Distinct events of the batch the table held before (redeliveries)."""
        return self.distinct - self.inserted


def statement_budget(rows: int, bulk_sources: int = 0, ranges: int = 1) -> int:
    """The most statements :func:`load_batch` runs for ``rows`` rows.

    ``bulk_sources``: COPY objects (0 for INSERT staging); ``ranges``: the batch's minute ranges.
    """
    if rows == 0:
        return 0
    staging = bulk_sources if bulk_sources else math.ceil(rows / MAX_ROWS_PER_INSERT)
    return FIXED_STATEMENTS - 1 + staging + math.ceil(ranges / RANGES_PER_LOOKUP)


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


# --- the statements (Redshift SQL unless named otherwise) ---------------------------------------


def _create_stage(super_as_text: bool) -> str:
    columns = ", ".join(
        f"CAST(NULL AS {SUPER_STAGE_TYPE}) AS {name}" if kind == "super" and super_as_text else name
        for name, kind in RISK_EVENTS_COLUMNS
    )
    return (
        f"CREATE TEMP TABLE {STAGE_TABLE} AS "
        f"SELECT {columns}, CAST(NULL AS INTEGER) AS {ORDINAL_COLUMN} FROM {RISK_EVENTS_TABLE} WHERE 1 = 0"
    )


def _publish(super_as_text: bool) -> str:
    values = ", ".join(
        f"JSON_PARSE(s.{name})" if kind == "super" and super_as_text else f"s.{name}"
        for name, kind in RISK_EVENTS_COLUMNS
    )
    return f"INSERT INTO {RISK_EVENTS_TABLE} ({', '.join(COLUMN_NAMES)}) SELECT {values} FROM {STAGE_TABLE} AS s"


CREATE_STAGE = _create_stage(super_as_text=True)
CREATE_STAGE_FOR_COPY = _create_stage(super_as_text=False)  # COPY ... FORMAT JSON fills SUPER columns itself
PUBLISH = _publish(super_as_text=True)
PUBLISH_FROM_COPY = _publish(super_as_text=False)
_INSERT_HEAD = f"INSERT INTO {STAGE_TABLE} ({', '.join(COLUMN_NAMES)}, {ORDINAL_COLUMN}) VALUES "
DEDUPE_BATCH = (
    f"DELETE FROM {STAGE_TABLE} WHERE {ORDINAL_COLUMN} IN ("
    f"SELECT {ORDINAL_COLUMN} FROM ("
    f"SELECT {ORDINAL_COLUMN}, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {ORDINAL_COLUMN}) AS copy_number "
    f"FROM {STAGE_TABLE}) AS ranked WHERE copy_number > 1)"
)
LOCK_LOADS = f"LOCK {LOAD_LOCK_TABLE}"
DROP_STAGE = f"DROP TABLE {STAGE_TABLE}"
# The stand-in's bulk path (PostgreSQL SQL, run as written): one bound JSON array of stage rows.
BULK_STAGE_POSTGRES = (
    f"INSERT INTO {STAGE_TABLE} ({', '.join(COLUMN_NAMES)}, {ORDINAL_COLUMN}) "
    f"SELECT {', '.join(COLUMN_NAMES)}, {ORDINAL_COLUMN} "
    f"FROM json_populate_recordset(NULL::{STAGE_TABLE}, CAST(%s AS json))"
)


_BOUNDED = " OR ".join(
    [f"({RISK_EVENTS_TABLE}.occurred_at >= %s AND {RISK_EVENTS_TABLE}.occurred_at < %s)"] * RANGES_PER_LOOKUP
)
DEDUPE_LOADED = (
    f"DELETE FROM {STAGE_TABLE} USING {RISK_EVENTS_TABLE} "
    f"WHERE {RISK_EVENTS_TABLE}.event_id = {STAGE_TABLE}.event_id "
    f"AND {RISK_EVENTS_TABLE}.occurred_at = {STAGE_TABLE}.occurred_at AND ({_BOUNDED})"
)


def lookup_parameters(ranges: Sequence[tuple[datetime, datetime]]) -> list[list[datetime]]:
    """The bound values of each :data:`DEDUPE_LOADED` statement: 16 ranges each, the last repeated to fill."""
    chunks = [list(ranges[i : i + RANGES_PER_LOOKUP]) for i in range(0, len(ranges), RANGES_PER_LOOKUP)]
    return [[bound for r in chunk + [chunk[-1]] * (RANGES_PER_LOOKUP - len(chunk)) for bound in r] for chunk in chunks]


def copy_statement(source: str) -> str:
    """Redshift only: fill the stage from one enriched JSON Lines object (the namespace's default role reads it)."""
    if not source.startswith("s3://") or "'" in source or "\\" in source:
        raise ValueError(f"not a plain s3:// URI: {source!r}")
    return (
        f"COPY {STAGE_TABLE} ({', '.join(COLUMN_NAMES)}) FROM '{source}' IAM_ROLE default "
        "FORMAT AS JSON 'auto' TIMEFORMAT 'auto'"
    )


def lookup_ranges(occurred: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Half-open ``occurred_at`` ranges that cover every given time: whole minutes, adjacent ones merged.

    Never wider than the minutes the batch's events fall in: a batch of recent events with one
    backfilled from years ago looks at two narrow ranges, not at the years in between.
    """
    minutes = sorted({t.replace(second=0, microsecond=0) for t in occurred})
    ranges: list[list[datetime]] = []
    for minute in minutes:
        if ranges and ranges[-1][1] == minute:
            ranges[-1][1] = minute + LOOKUP_BUCKET
        else:
            ranges.append([minute, minute + LOOKUP_BUCKET])
    return [(start, end) for start, end in ranges]


def insert_statement(rows: Sequence[Row], first_ordinal: int) -> tuple[str, list[Any]]:
    """One multi-row INSERT into the stage: its text and its bound values."""
    tuples: list[str] = []
    params: list[Any] = []
    for offset, row in enumerate(rows):
        _check_width(row)
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


def _check_width(row: Row) -> None:
    if len(row) != len(RISK_EVENTS_COLUMNS):
        raise ValueError(f"a row has {len(row)} values; risk_events has {len(RISK_EVENTS_COLUMNS)} columns")


_LITERAL_TYPES: dict[str, frozenset[type]] = {
    "bool": frozenset({bool, type(None)}),
    "int": frozenset({int, type(None)}),
    "double": frozenset({int, float, Decimal, type(None)}),
    "decimal": frozenset({int, float, Decimal, type(None)}),
}


def _check_literal_columns(rows: Sequence[Row]) -> None:
    """What :func:`sql_literal` checks value by value, column by column (C-speed for the common case)."""
    for index, (_, kind) in enumerate(RISK_EVENTS_COLUMNS):
        if kind in BOUND_KINDS:
            continue
        column = [row[index] for row in rows]
        found = set(map(type, column))
        finite = float not in found or all(map(math.isfinite, (v for v in column if type(v) is float)))
        decimals_finite = Decimal not in found or all(v.is_finite() for v in column if type(v) is Decimal)
        if not (found <= _LITERAL_TYPES[kind] and finite and decimals_finite):
            for value in column:
                sql_literal(kind, value)  # raises with the offending value


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot stage {type(value).__name__}")


def bulk_document(rows: Sequence[Row]) -> str:
    """The stand-in's bulk stage input: one JSON array of objects keyed by column, with ``batch_ord``.

    Numbers and booleans are checked as :func:`sql_literal` checks them (no NaN, no strings), so
    both staging paths accept exactly the same rows.
    """
    for row in rows:
        _check_width(row)
    _check_literal_columns(rows)
    items = [{**dict(zip(COLUMN_NAMES, row, strict=True)), ORDINAL_COLUMN: ordinal} for ordinal, row in enumerate(rows)]
    return orjson.dumps(items, default=_decimal_text).decode()


def load_batch(
    warehouse: Warehouse,
    rows: Sequence[Row],
    *,
    bulk_sources: Sequence[str] = (),
    bulk_min_rows: int = DEFAULT_BULK_MIN_ROWS,
) -> LoadResult:
    """Load ``rows`` (values in ``COLUMN_NAMES`` order) exactly once; raises after rolling back.

    ``bulk_sources`` are the ``s3://`` URIs of the enriched objects of these rows, for Redshift's
    COPY; without them Redshift stages with INSERTs whatever the size.
    """
    if not rows:
        return LoadResult(0, 0, 0, 0)
    distinct = len({row[EVENT_ID_AT] for row in rows})
    bulk = len(rows) >= bulk_min_rows
    copy = bulk and warehouse.dialect == REDSHIFT and bool(bulk_sources)
    with warehouse.transaction():
        staged = _stage(warehouse, rows, bulk=bulk, copy_sources=bulk_sources if copy else ())
        expected = distinct if copy else len(rows)  # the enriched objects hold first copies only
        if staged != expected:
            raise LoadError(f"staged {staged} rows of {expected}")
        copies = 0 if copy else warehouse.execute(DEDUPE_BATCH)
        if copies < 0:
            raise LoadError("the driver reported no row count for the in-batch dedupe")
    try:
        with warehouse.transaction():
            warehouse.execute(LOCK_LOADS)
            ranges = lookup_ranges([row[OCCURRED_AT] for row in rows])
            counts = [warehouse.execute(DEDUPE_LOADED, bounds) for bounds in lookup_parameters(ranges)]
            loaded = -1 if min(counts) < 0 else sum(counts)
            inserted = warehouse.execute(PUBLISH_FROM_COPY if copy else PUBLISH)
            if loaded < 0 or inserted != distinct - loaded:
                raise LoadError(f"inserted {inserted} rows; expected {distinct} new minus {loaded} already loaded")
            warehouse.execute(DROP_STAGE)
    except Exception as exc:
        if not is_connection_error(exc):
            _drop_stage_quietly(warehouse)
        raise
    return LoadResult(rows_in=len(rows), distinct=distinct, inserted=inserted, duplicates=len(rows) - inserted)


def _stage(warehouse: Warehouse, rows: Sequence[Row], *, bulk: bool, copy_sources: Sequence[str]) -> int:
    """Create the stage and fill it; returns the rows staged."""
    if copy_sources:
        warehouse.execute(CREATE_STAGE_FOR_COPY)
        return sum(warehouse.execute(copy_statement(source)) for source in copy_sources)
    warehouse.execute(CREATE_STAGE)
    if bulk and warehouse.dialect == POSTGRES:
        return warehouse.execute_as_written(BULK_STAGE_POSTGRES, [bulk_document(rows)])
    staged = 0
    for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
        sql, params = insert_statement(rows[start : start + MAX_ROWS_PER_INSERT], start)
        # Dialect-neutral by construction (see insert_statement): sent as written, never re-parsed.
        staged += warehouse.execute_as_written(sql, params)
    return staged


def _drop_stage_quietly(warehouse: Warehouse) -> None:
    """After a failed publish the committed stage would outlive the batch in this session: drop it."""
    with contextlib.suppress(Exception), warehouse.transaction():
        warehouse.execute(DROP_STAGE)
