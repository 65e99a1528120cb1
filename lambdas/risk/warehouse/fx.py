"""Daily FX rates (``fx_rates``) into one reporting currency, loaded idempotently.

A rate says 1 unit of ``currency`` was worth ``rate`` units of ``reporting_currency`` on
``rate_date``; ``v_event_amounts`` converts each event at the latest rate on or before its day.
The table holds one reporting currency: a load naming another is refused, since mixing two would
make every converted total wrong. Loading the same rates again changes nothing; a different rate
for a loaded (day, currency) replaces it (a correction). One transaction under ``LOCK fx_rates``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from risk.warehouse.connection import Warehouse

FX_TABLE = "fx_rates"
STAGE = "fx_rates_stage"
MAX_RATE = Decimal("1e10")  # DECIMAL(18, 8)


class FxError(ValueError):
    """A rate that cannot be loaded; the message names where it came from and what to fix."""


@dataclass(frozen=True)
class FxRate:
    rate_date: date
    currency: str
    reporting_currency: str
    rate: Decimal


def _currency(value: object, name: str, where: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise FxError(f"{where}: {name} {value!r} is not an ISO 4217 code, e.g. EUR")
    return code


def parse_rate(doc: dict[str, object], where: str) -> FxRate:
    """One rate from a CSV row or a JSON object; ``where`` (file and line) starts every error."""
    unknown = sorted(set(doc) - {"rate_date", "currency", "reporting_currency", "rate"})
    if unknown:
        raise FxError(f"{where}: unknown field {unknown[0]!r} (fields: rate_date, currency, reporting_currency, rate)")
    raw_date = doc.get("rate_date")
    try:
        rate_date = date.fromisoformat(str(raw_date).strip())
    except ValueError:
        raise FxError(f"{where}: rate_date {raw_date!r} is not a date, e.g. 2026-11-24") from None
    currency = _currency(doc.get("currency"), "currency", where)
    reporting = _currency(doc.get("reporting_currency"), "reporting_currency", where)
    raw_rate = doc.get("rate")
    try:
        rate = Decimal(str(raw_rate).strip()) if isinstance(raw_rate, str | int | float) else Decimal("NaN")
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or not 0 < rate < MAX_RATE:
        raise FxError(f"{where}: rate {raw_rate!r} must be a number above 0 and below {MAX_RATE:,.0f}")
    if currency == reporting and rate != 1:
        raise FxError(f"{where}: {currency} into itself must be 1, got {raw_rate!r}")
    return FxRate(rate_date, currency, reporting, rate.quantize(Decimal("1e-8")))


@dataclass(frozen=True)
class FxLoad:
    given: int
    inserted: int
    replaced: int
    unchanged: int


CREATE_STAGE = f"""
CREATE TEMP TABLE {STAGE} (
    rate_date          DATE,
    currency           VARCHAR(3),
    reporting_currency VARCHAR(3),
    rate               DECIMAL(18, 8)
)
"""
STAGE_ROW = f"INSERT INTO {STAGE} (rate_date, currency, reporting_currency, rate) VALUES (%s, %s, %s, %s)"
REPORTING_CURRENCIES = (
    f"SELECT DISTINCT reporting_currency FROM {FX_TABLE} "
    f"UNION SELECT DISTINCT reporting_currency FROM {STAGE} ORDER BY 1"
)
_SAME_KEY = f"{FX_TABLE}.rate_date = {STAGE}.rate_date AND {FX_TABLE}.currency = {STAGE}.currency"
REPLACE_CHANGED = f"DELETE FROM {FX_TABLE} USING {STAGE} WHERE {_SAME_KEY} AND {FX_TABLE}.rate <> {STAGE}.rate"
INSERT_NEW = (
    f"INSERT INTO {FX_TABLE} (rate_date, currency, reporting_currency, rate, loaded_at) "
    f"SELECT rate_date, currency, reporting_currency, rate, GETDATE() FROM {STAGE} "
    f"WHERE NOT EXISTS (SELECT 1 FROM {FX_TABLE} WHERE {_SAME_KEY})"
)
DROP_STAGE = f"DROP TABLE {STAGE}"


def load_rates(warehouse: Warehouse, rates: Sequence[FxRate]) -> FxLoad:
    """Load ``rates`` (the last one given wins for a repeated day and currency); all or nothing."""
    latest = {(r.rate_date, r.currency): r for r in rates}
    with warehouse.transaction():
        warehouse.execute(f"LOCK {FX_TABLE}")
        warehouse.execute(CREATE_STAGE)
        if latest:
            warehouse.executemany(
                STAGE_ROW, [(r.rate_date, r.currency, r.reporting_currency, r.rate) for r in latest.values()]
            )
        reporting = [str(row[0]) for row in warehouse.fetchall(REPORTING_CURRENCIES)]
        if len(reporting) > 1:
            raise FxError(
                f"rates into {' and '.join(reporting)}: fx_rates holds one reporting currency; "
                "convert the file's rates into the one already loaded"
            )
        replaced = warehouse.execute(REPLACE_CHANGED)
        inserted = warehouse.execute(INSERT_NEW)
        warehouse.execute(DROP_STAGE)
    return FxLoad(given=len(rates), inserted=inserted, replaced=replaced, unchanged=len(latest) - inserted)
