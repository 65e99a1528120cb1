"""ScoredEvent -> risk_events row and enriched record: order, types, pseudonyms, no raw PII."""

from __future__ import annotations

import math
from datetime import date, datetime

import orjson
import pytest

from risk.events.model import format_ts
from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import RowError, event_date, to_enriched, to_record, to_row
from risk.warehouse.columns import COLUMN_NAMES
from tests.load.conftest import LOADED, OCCURRED, make_scored

RAW_PII = ("Alice.Example@Mail.TEST", "alice.example@mail.test", "203.0.113.7", "device-abc")


def test_row_follows_the_column_contract(keys: Pseudonymiser) -> None:
    scored = make_scored("evt-9")
    row = dict(zip(COLUMN_NAMES, to_row(to_record(scored, keys, LOADED)), strict=True))
    assert len(row) == len(COLUMN_NAMES)
    assert row["event_id"] == "evt-9"
    assert row["user_id"] == "user-1"
    assert row["event_type"] == "payment"
    assert row["channel"] == "app"
    assert row["schema_version"] == 1
    assert row["amount"] == 129.95
    assert (row["currency"], row["country"], row["merchant_id"]) == ("EUR", "DE", "m-17")
    assert (row["geo_lat"], row["geo_lon"]) == (52.52, 13.405)
    assert (row["count_1m"], row["count_1h"], row["count_24h"]) == (1, 3, 7)
    assert (row["amount_sum_1h"], row["amount_zscore"], row["distance_km"]) == (250.5, 1.75, 12.3)
    assert (row["new_country"], row["hour_of_day"], row["high_amount_flag"]) == (True, 23, True)
    assert (row["score"], row["risk_band"], row["model_version"]) == (0.42, "medium", "lr-v1")


def test_row_carries_pseudonyms_not_pii(keys: Pseudonymiser) -> None:
    row = dict(zip(COLUMN_NAMES, to_row(to_record(make_scored(), keys, LOADED)), strict=True))
    assert row["email_key"] == keys.email_key("alice.example@mail.test")
    assert row["ip_key"] == keys.ip_key("203.0.113.7")
    assert row["device_key"] == keys.device_key("device-abc")
    text = repr(row)
    for value in RAW_PII:
        assert value not in text


def test_timestamps_are_naive_utc_and_loaded_at_is_the_batch_time(keys: Pseudonymiser) -> None:
    row = dict(zip(COLUMN_NAMES, to_row(to_record(make_scored(), keys, LOADED)), strict=True))
    assert row["occurred_at"] == datetime(2024, 5, 1, 23, 59, 30, 250000)
    assert row["ingested_at"] == datetime(2024, 5, 1, 23, 59, 32, 250000)
    assert row["loaded_at"] == datetime(2024, 5, 2, 0, 0, 5, 500000)


def test_super_columns_are_compact_json_text(keys: Pseudonymiser) -> None:
    row = dict(zip(COLUMN_NAMES, to_row(to_record(make_scored(), keys, LOADED)), strict=True))
    assert row["reason_codes"] == '["high_amount_flag","new_country"]'
    assert orjson.loads(row["metadata"]) == {"campaign": "spring", "nested": {"a": [1, 2]}}


def test_missing_optional_inputs_become_nulls(keys: Pseudonymiser) -> None:
    scored = make_scored(geo=None, email=None, ip=None, device_id=None, amount=None, currency=None, channel=None)
    row = dict(zip(COLUMN_NAMES, to_row(to_record(scored, keys, LOADED)), strict=True))
    for name in ("geo_lat", "geo_lon", "email_key", "ip_key", "device_key", "amount", "currency", "channel"):
        assert row[name] is None, name


def test_enriched_record_is_json_with_the_same_columns_and_no_pii(keys: Pseudonymiser) -> None:
    enriched = to_enriched(to_record(make_scored(), keys, LOADED))
    assert list(enriched) == list(COLUMN_NAMES)
    assert enriched["occurred_at"] == format_ts(OCCURRED) == "2024-05-01T23:59:30.250Z"
    assert enriched["loaded_at"] == "2024-05-02T00:00:05.500Z"
    assert enriched["reason_codes"] == ["high_amount_flag", "new_country"]
    text = orjson.dumps(enriched).decode()
    for value in RAW_PII:
        assert value not in text
    for pii_field in ("email", "ip", "device_id"):
        assert pii_field not in enriched


def test_event_date_is_the_utc_date_of_occurrence(keys: Pseudonymiser) -> None:
    assert event_date(to_record(make_scored(), keys, LOADED)) == date(2024, 5, 1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_numbers_fail_the_event(keys: Pseudonymiser, bad: float) -> None:
    with pytest.raises(RowError, match="amount"):
        to_record(make_scored(amount=bad), keys, LOADED)


def test_naive_timestamps_are_refused(keys: Pseudonymiser) -> None:
    with pytest.raises(RowError, match="loaded_at"):
        to_record(make_scored(), keys, LOADED.replace(tzinfo=None))
