"""The high-band-rate alarm (issue 15, item 6): the champion's high-band share of scored events per hour,
judged against ``alarms.high_band_rate`` only in hours with enough events, 3 of 4 hours (a warning).
Its expression is evaluated by the local alarm evaluator (``tools.local.alarms``), as the drills do."""

from __future__ import annotations

import json

import pytest

from risk.common import telemetry
from stacks.config import REPO_ROOT, ConfigError, load_environment, read_environments
from stacks.observability import HIGH_BAND_HOURS, HIGH_BAND_WINDOW_HOURS, WARNING
from tests.infra.test_observability import Synth, _synths, math_alarm
from tools.local.alarms import evaluate_expression


@pytest.fixture(scope="module", params=["dev", "prod"])
def obs(request: pytest.FixtureRequest) -> Synth:
    return _synths(request.param)


def _champion_version(obs: Synth) -> str:
    doc = json.loads((REPO_ROOT / "lambdas/risk/score/models" / obs.cfg.scoring.model_file).read_text())
    return str(doc["model_version"])


def test_high_band_rate_reads_the_champions_high_band_over_scored_events_per_hour(obs: Synth) -> None:
    props = obs.alarm("high-band-rate")
    _, inputs = math_alarm(props)
    assert inputs["h0"]["name"] == telemetry.SCORED_BY_BAND.name
    assert inputs["h0"]["dimensions"] == {
        "service": telemetry.SERVICE,
        "environment": obs.cfg.name,
        "risk_band": "high",
        "model_version": _champion_version(obs),
    }
    assert inputs["scored"]["name"] == telemetry.EVENTS_SCORED.name
    assert inputs["scored"]["dimensions"] == {"service": telemetry.SERVICE, "environment": obs.cfg.name}
    assert {m["statistic"] for m in inputs.values()} == {"Sum"}
    assert {m["period"] for m in inputs.values()} == {3600}
    assert (props["Threshold"], props["ComparisonOperator"], props["TreatMissingData"]) == (
        0,
        "GreaterThanThreshold",
        "notBreaching",
    )
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (HIGH_BAND_WINDOW_HOURS, HIGH_BAND_HOURS)
    assert obs.monitoring.alarms["high-band-rate"].severity == WARNING
    assert obs.monitoring.alarms["high-band-rate"].runbook == "docs/runbooks/model-rollback.md"


def test_high_band_rate_breaches_only_outside_the_configured_band_with_enough_events(obs: Synth) -> None:
    band = obs.cfg.alarms.high_band_rate
    assert band is not None
    expression, _ = math_alarm(obs.alarm("high-band-rate"))
    n = band.min_events * 10

    def breach(high: float | None, scored: float | None) -> float | None:
        return evaluate_expression(expression, {"h0": high, "scored": scored})

    mid = (band.min_pct + band.max_pct) / 2
    assert breach(n * mid / 100, n) == 0.0
    assert breach(n * band.max_pct * 1.1 / 100, n) == 1.0  # too many flagged
    assert breach(n * band.min_pct * 0.5 / 100, n) == 1.0  # too few flagged
    assert breach(None, n) == 1.0  # no high-band event at all in a busy hour is below the band
    assert breach(n * band.max_pct * 2 / 100 / 10, band.min_events - 1) == 0.0  # too few events to judge
    assert breach(None, None) == 0.0  # an idle hour is not judged


def _with_band(band: object) -> dict[str, object]:
    environments = json.loads(json.dumps(read_environments()))
    alarms = environments["dev"]["alarms"]
    if band is None:
        del alarms["high_band_rate"]
    else:
        alarms["high_band_rate"] = band
    return environments


def test_a_band_whose_minimum_is_not_below_its_maximum_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"high_band_rate\.min_pct: 5\.0 is not below max_pct 5\.0"):
        load_environment("dev", _with_band({"min_pct": 5, "max_pct": 5, "min_events": 100}))
    with pytest.raises(ConfigError, match=r"environments\.dev\.alarms\.high_band_rate\.min_events: missing"):
        load_environment("dev", _with_band({"min_pct": 1, "max_pct": 5}))


def test_without_a_band_in_the_config_there_is_no_band_to_alarm_on() -> None:
    assert load_environment("dev", _with_band(None)).alarms.high_band_rate is None
