"""``ProcessingFailures``: only contract causes, one EMF document per cause, and parse's attribution."""

from __future__ import annotations

import json

import pytest

from risk.common import telemetry
from risk.common.failures import emit_failures
from risk.parse.handler import _failure_causes
from risk.parse.service import BatchOutcome


def _documents(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if telemetry.PROCESSING_FAILURES.name in line]


def test_each_cause_is_one_document_with_stage_and_cause(capsys: pytest.CaptureFixture[str]) -> None:
    emit_failures("load", "test", {telemetry.Cause.WAREHOUSE: 3, telemetry.Cause.POISON: 1, telemetry.Cause.ARCHIVE: 0})
    docs = _documents(capsys.readouterr().out)
    assert sorted((d["stage"], d["cause"], d[telemetry.PROCESSING_FAILURES.name]) for d in docs) == [
        ("load", "poison", [1.0]),
        ("load", "warehouse", [3.0]),
    ]  # a zero is not emitted
    for d in docs:
        assert d["service"] == telemetry.SERVICE and d["environment"] == "test"
        (directive,) = d["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
        assert directive["Namespace"] == telemetry.NAMESPACE
        assert set(directive["Dimensions"][0]) == set(telemetry.PROCESSING_FAILURES.dimensions)


def test_a_cause_outside_the_contract_is_refused() -> None:
    with pytest.raises(ValueError, match="FAILURE_CAUSES"):
        emit_failures("parse", "test", {telemetry.Cause.WAREHOUSE: 1})  # parse has no warehouse


def test_every_stage_has_causes_and_every_cause_is_named() -> None:
    named = {v for k, v in vars(telemetry.Cause).items() if not k.startswith("_")}
    assert set(telemetry.FAILURE_CAUSES) == {"parse", "score", "load"}
    for causes in telemetry.FAILURE_CAUSES.values():
        assert causes and set(causes) <= named


def test_parse_attributes_failed_records_to_the_write_that_failed() -> None:
    assert _failure_causes(BatchOutcome(received=3, failed=["1", "2"])) == {"publish": 2}
    failed_quarantine = BatchOutcome(received=3, failed=["1"], quarantine_error="AccessDenied")
    assert _failure_causes(failed_quarantine) == {"archive": 1}
