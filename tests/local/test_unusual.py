"""The unusual-event generator: every kind is labelled, documented and has the outcome it claims."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from risk.events.limits import MAX_EVENT_BYTES
from risk.events.model import RiskEvent
from risk.parse.parser import parse_record
from tools.local.unusual import KINDS, Unusual, unusual_records

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_at_least_sixteen_valid_kinds_and_every_kind_documented() -> None:
    assert sum(1 for k in KINDS.values() if k.expected is None) >= 16
    assert all(k.description for k in KINDS.values())


@pytest.mark.parametrize("record", unusual_records(len(KINDS), seed=1, now=NOW), ids=lambda r: r.kind)
def test_each_kind_parses_to_its_expected_outcome(record: Unusual) -> None:
    assert len(record.data) <= MAX_EVENT_BYTES  # unusual, not oversize: Kinesis takes it
    result = parse_record(record.data, sequence_number="1", arrival=NOW)
    if record.expected is None:
        assert isinstance(result, RiskEvent), getattr(result, "detail", result)
        assert result.event_id == record.event_id
    else:
        assert not isinstance(result, RiskEvent) and result.reason is record.expected, result
