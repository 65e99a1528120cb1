"""risk_events rows for view tests: every NOT NULL column filled, the rest None unless given."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from risk.warehouse.columns import COLUMN_NAMES
from risk.warehouse.connection import Warehouse

_SUPER = ("reason_codes", "metadata", "shadow_scores", "reason_contributions")


def event_row(
    event_id: str, user_id: str, occurred_at: datetime, score: float, band: str, **extra: Any
) -> dict[str, Any]:
    """A row with defaults for every NOT NULL column; SUPER values (``reason_codes``, ``shadow_scores``, ...)
    may be given as lists (None is SQL NULL, a string is JSON text)."""
    row: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    row.update(
        event_id=event_id, user_id=user_id, event_type="payment", schema_version=1, occurred_at=occurred_at,
        ingested_at=occurred_at, loaded_at=occurred_at, count_1m=1, count_1h=1, count_24h=1, amount_sum_1m=0,
        amount_sum_1h=0, amount_sum_24h=0, new_device=False, new_country=False, hour_of_day=occurred_at.hour,
        geo_flag=False, velocity_flag=False, new_device_flag=False, high_amount_flag=False, score=score,
        risk_band=band, model_version="lr-1", reason_codes=[f"reason_{event_id}"], metadata={},
    )  # fmt: skip
    row.update(extra)
    return row


def insert_events(warehouse: Warehouse, rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(COLUMN_NAMES)
    values = ", ".join("JSON_PARSE(%s)" if name in _SUPER else "%s" for name in COLUMN_NAMES)
    with warehouse.transaction():
        for row in rows:
            params = [
                json.dumps(row[c]) if c in _SUPER and not isinstance(row[c], str | None) else row[c]
                for c in COLUMN_NAMES
            ]
            warehouse.execute(f"INSERT INTO risk_events ({columns}) VALUES ({values})", params)
