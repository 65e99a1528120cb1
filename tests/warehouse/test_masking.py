"""Dynamic data masking: Redshift only, so checked here by shape against the DDL.

Every column that identifies a person, a merchant or a place, and the free-form metadata, is
masked for both reading roles; each policy's input type is the column's declared type (Redshift
refuses an ATTACH otherwise); each mask's output fits the column.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlglot import exp

from risk.warehouse.dialect import parse_redshift, split_statements
from tests.conftest import SCHEMA_DIR

MASKED_FOR_READERS = {
    "user_id",
    "merchant_id",
    "geo_lat",
    "geo_lon",
    "metadata",
    "ip_key",
    "device_key",
    "email_key",
}
READING_ROLES = ("risk_analyst", "risk_bi")
_CREATE = re.compile(
    r"^CREATE\s+MASKING\s+POLICY\s+(\w+)\s+WITH\s*\(\s*\w+\s+(.+?)\s*\)\s+USING\s*\((.+)\)$", re.S | re.I
)
_ATTACH = re.compile(
    r"^ATTACH\s+MASKING\s+POLICY\s+(\w+)\s+ON\s+risk_events\s*\(\s*(\w+)\s*\)\s+TO\s+ROLE\s+(\w+)$", re.I
)


def _statements() -> list[str]:
    return [s for path in sorted(SCHEMA_DIR.glob("*.sql")) for s in split_statements(path.read_text())]


def _policies() -> dict[str, tuple[str, str]]:
    return {m.group(1): (m.group(2).upper(), m.group(3)) for s in _statements() if (m := _CREATE.match(s))}


def _attachments() -> set[tuple[str, str, str]]:
    return {(m.group(1), m.group(2), m.group(3)) for s in _statements() if (m := _ATTACH.match(s))}


def _column_types() -> dict[str, str]:
    (table,) = [s for s in split_statements((SCHEMA_DIR / "V001__risk_events.sql").read_text()) if "risk_events" in s]
    tree = parse_redshift(table)
    assert tree is not None
    return {col.name: col.args["kind"].sql(dialect="redshift").upper() for col in tree.find_all(exp.ColumnDef)}


@pytest.mark.parametrize("role", READING_ROLES)
def test_every_identifying_column_is_masked_for_each_reading_role(role: str) -> None:
    masked = {column for _, column, attached_to in _attachments() if attached_to == role}
    assert masked == MASKED_FOR_READERS


def test_each_attached_policy_takes_the_columns_declared_type() -> None:
    policies, columns = _policies(), _column_types()
    for policy, column, _ in _attachments():
        declared, _using = policies[policy]
        assert declared == columns[column], (policy, column)


def test_masks_keep_the_shape_analysts_rely_on() -> None:
    policies = _policies()
    assert policies["mask_identifier"][1] == "SHA2(identifier, 256)"
    assert len(hashlib.sha256(b"user-42").hexdigest()) == 64  # fits user_id/merchant_id VARCHAR(64), deterministic
    assert policies["mask_coordinate"][1] == "ROUND(coordinate, 1)"
    assert policies["mask_metadata"][1] == "JSON_PARSE('{}')"
    assert policies["mask_pseudonymised_key"][1] == "SHA2(pseudonym, 256)"
