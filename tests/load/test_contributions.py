"""reason_contributions from the scored envelope to risk_events: both staging paths, and envelopes without it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from risk.common.envelope import pack
from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import RowError, to_enriched, to_row
from risk.load.service import decode_message
from risk.score.model import REASON_CONTRIBUTIONS
from risk.warehouse.connection import Warehouse
from risk.warehouse.loader import copy_statement, load_batch
from tests.load.conftest import LOADED, make_scored


def _item(event_id: str, *, with_contributions: bool) -> dict[str, Any]:
    item = make_scored(event_id).to_dict()
    if not with_contributions:  # a producer (or a message in flight) from before the field
        del item["score"][REASON_CONTRIBUTIONS]
    return item


@pytest.mark.parametrize("bulk_min_rows", [1, 500], ids=["bulk", "inserts"])
def test_an_envelope_without_contributions_loads_beside_one_with_them_as_null(
    warehouse: Warehouse, keys: Pseudonymiser, bulk_min_rows: int
) -> None:
    (body,) = pack([_item("new", with_contributions=True), _item("old", with_contributions=False)])
    records = decode_message(body, keys, LOADED)
    assert load_batch(warehouse, [to_row(r) for r in records], bulk_min_rows=bulk_min_rows).inserted == 2
    with warehouse.transaction():
        rows = warehouse.fetchall(
            "SELECT event_id, reason_codes, reason_contributions FROM risk_events ORDER BY event_id"
        )
    stored = [(e, orjson.loads(codes), None if c is None else orjson.loads(c)) for e, codes, c in rows]
    assert stored == [
        ("new", ["high_amount_flag", "new_country"], [1.25, 0.5]),
        ("old", ["high_amount_flag", "new_country"], None),
    ]


def test_an_envelope_with_misaligned_contributions_fails_with_a_one_line_reason(keys: Pseudonymiser) -> None:
    item = _item("bad", with_contributions=True)
    item["score"][REASON_CONTRIBUTIONS] = [1.25]
    (body,) = pack([item])
    with pytest.raises(RowError, match=r"^not a scored event: ScoreError: 1 reason contributions for 2 reason codes$"):
        decode_message(body, keys, LOADED)


def test_the_enriched_record_carries_the_column_copy_loads_by_name(keys: Pseudonymiser) -> None:
    (body,) = pack([_item("new", with_contributions=True)])
    (record,) = decode_message(body, keys, LOADED)
    assert to_enriched(record)["reason_contributions"] == [1.25, 0.5]
    assert "reason_contributions" in copy_statement("s3://b/enriched/x.jsonl").split(" FROM ")[0]
