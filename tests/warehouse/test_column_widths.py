"""The DDL declares exactly the byte widths the contract declares (``risk.events.limits``), column by column."""

from __future__ import annotations

import re
from pathlib import Path

from risk.events.limits import COLUMN_BYTES
from risk.warehouse.columns import DRILL_THROUGH_BYTES, PSEUDONYMISED_COLUMNS, RISK_EVENTS_COLUMNS, TEXT_COLUMN_BYTES

SCHEMA = Path(__file__).resolve().parents[2] / "redshift_schema"
_VARCHAR_COLUMN = re.compile(r"^\s*(?:ADD\s+COLUMN\s+)?(\w+)\s+VARCHAR\((\d+)\)", re.IGNORECASE | re.MULTILINE)


def _risk_events_ddl() -> str:
    """The CREATE TABLE risk_events body and every ALTER TABLE risk_events of every migration."""
    text = "\n".join(p.read_text() for p in sorted(SCHEMA.glob("V*.sql")))
    create = re.search(r"CREATE TABLE IF NOT EXISTS risk_events \((.*?)\n\)", text, re.DOTALL)
    assert create is not None
    alters = re.findall(r"ALTER TABLE risk_events\s+(ADD COLUMN [^;]*);", text, re.IGNORECASE)
    return create.group(1) + "\n" + "\n".join(alters)


def test_every_varchar_column_has_the_contract_width_in_bytes() -> None:
    declared = {name: int(width) for name, width in _VARCHAR_COLUMN.findall(_risk_events_ddl())}
    assert declared == TEXT_COLUMN_BYTES
    assert set(declared) == {name for name, kind in RISK_EVENTS_COLUMNS if kind == "text"}


def test_every_width_the_contract_or_the_drill_through_declares_is_a_column_once() -> None:
    assert set(COLUMN_BYTES) | set(DRILL_THROUGH_BYTES) == set(TEXT_COLUMN_BYTES)
    assert not set(COLUMN_BYTES) & set(DRILL_THROUGH_BYTES)


def test_the_masking_policy_takes_the_pseudonym_width() -> None:
    text = (SCHEMA / "V004__mask_pseudonymised_keys.sql").read_text()
    (width,) = {int(w) for w in re.findall(r"pseudonym VARCHAR\((\d+)\)", text)}
    assert {COLUMN_BYTES[name] for name in PSEUDONYMISED_COLUMNS} == {width}
