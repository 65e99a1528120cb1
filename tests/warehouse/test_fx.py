"""fx_rates: parsing and loading daily rates, and amounts in the reporting currency."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from risk.warehouse.connection import Warehouse
from risk.warehouse.fx import FxError, FxRate, load_rates, parse_rate
from tests.warehouse.rows import event_row, insert_events
from tools.riskctl import main


def _rate(day: int, currency: str, rate: str, reporting: str = "EUR") -> FxRate:
    return FxRate(date(2026, 11, day), currency, reporting, Decimal(rate))


def _amounts(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.transaction():
        rows = warehouse.fetchall(
            "SELECT event_id, reporting_currency, amount_reporting FROM v_event_amounts ORDER BY event_id"
        )
    return [tuple(r) for r in rows]


def test_amounts_convert_at_the_latest_rate_on_or_before_their_day(warehouse: Warehouse) -> None:
    insert_events(
        warehouse,
        [
            event_row("a_fri", "u1", datetime(2026, 11, 6, 15), 0.1, "low", amount=100, currency="USD"),
            event_row("b_sun", "u1", datetime(2026, 11, 8, 9), 0.1, "low", amount=100, currency="USD"),  # Friday's
            event_row("c_mon", "u1", datetime(2026, 11, 9, 0), 0.1, "low", amount=100, currency="USD"),
            event_row("d_eur", "u2", datetime(2026, 11, 9, 0), 0.1, "low", amount=40, currency="EUR"),
            event_row("e_early", "u2", datetime(2026, 11, 1), 0.1, "low", amount=100, currency="USD"),  # no rate yet
            event_row("f_none", "u2", datetime(2026, 11, 9), 0.1, "low"),  # no amount
        ],
    )
    load_rates(warehouse, [_rate(6, "USD", "0.9"), _rate(9, "USD", "0.8"), _rate(9, "EUR", "1")])
    assert _amounts(warehouse) == [
        ("a_fri", "EUR", Decimal("90.00000000000")),
        ("b_sun", "EUR", Decimal("90.00000000000")),
        ("c_mon", "EUR", Decimal("80.00000000000")),
        ("d_eur", "EUR", Decimal("40.0000")),
        ("e_early", None, None),
        ("f_none", None, None),
    ]


def test_loading_the_same_rates_again_changes_nothing_and_a_corrected_rate_replaces(warehouse: Warehouse) -> None:
    first = load_rates(warehouse, [_rate(6, "USD", "0.9"), _rate(6, "GBP", "1.15")])
    again = load_rates(warehouse, [_rate(6, "USD", "0.9"), _rate(6, "GBP", "1.15")])
    corrected = load_rates(warehouse, [_rate(6, "USD", "0.91")])
    assert [(r.inserted, r.replaced, r.unchanged) for r in (first, again, corrected)] == [
        (2, 0, 0),
        (0, 0, 2),
        (1, 1, 0),
    ]
    with warehouse.transaction():
        rows = warehouse.fetchall("SELECT currency, rate FROM fx_rates ORDER BY currency")
    assert [tuple(r) for r in rows] == [("GBP", Decimal("1.15000000")), ("USD", Decimal("0.91000000"))]


def test_a_second_reporting_currency_is_refused_and_nothing_loads(warehouse: Warehouse) -> None:
    load_rates(warehouse, [_rate(6, "USD", "0.9")])
    with pytest.raises(FxError, match="rates into EUR and GBP: fx_rates holds one reporting currency"):
        load_rates(warehouse, [_rate(7, "USD", "0.7", reporting="GBP"), _rate(7, "JPY", "0.006")])
    with warehouse.transaction():
        assert warehouse.scalar("SELECT COUNT(*) FROM fx_rates") == 1


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rate_date": "06/11/2026", "currency": "USD", "reporting_currency": "EUR", "rate": "0.9"}, "not a date"),
        ({"rate_date": "2026-11-06", "currency": "US", "reporting_currency": "EUR", "rate": "0.9"}, "not an ISO 4217"),
        ({"rate_date": "2026-11-06", "currency": "USD", "reporting_currency": "EUR", "rate": "-1"}, "above 0"),
        ({"rate_date": "2026-11-06", "currency": "USD", "reporting_currency": "EUR", "rate": "abc"}, "above 0"),
        ({"rate_date": "2026-11-06", "currency": "USD", "reporting_currency": "EUR", "rate": True}, "above 0"),
        ({"rate_date": "2026-11-06", "currency": "EUR", "reporting_currency": "EUR", "rate": "0.9"}, "must be 1"),
        ({"date": "2026-11-06"}, "unknown field 'date'"),
    ],
)
def test_a_bad_rate_is_refused_with_where_and_what_to_fix(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(FxError, match=f"^rates.csv line 2: .*{message}"):
        parse_rate(doc, "rates.csv line 2")


def test_riskctl_fx_load_reads_csv_and_a_bad_line_is_one_line_of_error(
    warehouse: Warehouse, pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "rates.csv"
    good.write_text("rate_date,currency,reporting_currency,rate\n2026-11-06,usd,EUR,0.9\n2026-11-06,GBP,EUR,1.15\n")
    out = io.StringIO()
    assert main(["fx", "load", str(good), "--dsn", pg_dsn], out=out) == 0
    assert out.getvalue() == f"fx: 2 rates in {good}; 2 loaded (0 correcting a loaded rate), 0 already loaded\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"rate_date": "2026-11-07", "currency": "USD", "reporting_currency": "EUR", "rate": 0}\n')
    assert main(["fx", "load", str(bad), "--dsn", pg_dsn], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"riskctl: error: {bad} line 1: rate 0 must be a number above 0" in err
    with warehouse.transaction():
        assert warehouse.scalar("SELECT COUNT(*) FROM fx_rates") == 2


def test_an_amount_already_in_the_reporting_currency_needs_no_rate_row(warehouse: Warehouse) -> None:
    insert_events(warehouse, [event_row("eur", "u1", datetime(2026, 11, 6), 0.1, "low", amount=40, currency="EUR")])
    assert _amounts(warehouse) == [("eur", None, None)]  # no rates at all: the reporting currency is unknown
    load_rates(warehouse, [_rate(6, "USD", "0.9")])
    assert _amounts(warehouse) == [("eur", "EUR", Decimal(40))]
