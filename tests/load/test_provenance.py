"""What the load reads beside a scored event in the envelope: its source and the band thresholds.

Messages already in flight when this was deployed carry neither: they load, with NULLs.
"""

from __future__ import annotations

from typing import Any

import pytest

from risk.common.envelope import SOURCE_KEY, THRESHOLDS_KEY, pack
from risk.load.pseudonymise import Pseudonymiser
from risk.load.service import decode_message
from tests.load.conftest import LOADED, make_scored

COLUMNS = ("kinesis_shard_id", "kinesis_sequence_number", "band_medium_threshold", "band_high_threshold")


def _decoded(keys: Pseudonymiser, **extra: Any) -> tuple[Any, ...]:
    (body,) = pack([{**make_scored().to_dict(), **extra}])
    (record,) = decode_message(body, keys, LOADED)
    return tuple(record[c] for c in COLUMNS)


def test_the_source_and_thresholds_an_item_carries_reach_the_row(keys: Pseudonymiser) -> None:
    extra = {
        SOURCE_KEY: {"shard_id": "shardId-000000000003", "sequence_number": "4963"},
        THRESHOLDS_KEY: {"medium": 0.3, "high": 0.7},
    }
    assert _decoded(keys, **extra) == ("shardId-000000000003", "4963", 0.3, 0.7)


def test_an_item_from_before_drill_through_loads_with_nulls(keys: Pseudonymiser) -> None:
    assert _decoded(keys) == (None, None, None, None)


@pytest.mark.parametrize(
    "extra",
    [
        {SOURCE_KEY: "shardId-1:42", THRESHOLDS_KEY: [0.3, 0.7]},
        {SOURCE_KEY: {"shard_id": 1}, THRESHOLDS_KEY: {"medium": "0.3", "high": True}},
    ],
)
def test_a_malformed_source_or_thresholds_are_left_out_not_guessed(keys: Pseudonymiser, extra: dict[str, Any]) -> None:
    assert _decoded(keys, **extra) == (None, None, None, None)
