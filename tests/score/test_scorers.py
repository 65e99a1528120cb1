"""Rules, the logistic model from its file, reasons, bands, missing inputs, the factory."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from risk.score.model import Features
from risk.score.scorers import LogisticScorer, RulesScorer, SageMakerScorer, Thresholds, load_scorer
from risk.score.scorers.logistic import MODELS_DIR, LogisticModel, ModelFileError, sigmoid
from risk.score.scorers.rules import RULES
from risk.score.vector import FEATURE_NAMES, MISSING_AMOUNT, MISSING_GEO, vectorize
from tests.score.conftest import event

QUIET = Features(
    count_1m=1, count_1h=1, count_24h=3, amount_sum_1m=20.0, amount_sum_1h=20.0, amount_sum_24h=60.0,
    amount_zscore=0.1, amount_ratio=1.0, distance_km=2.0, speed_kmh=4.0, seconds_since_last=1_800.0,
    new_device=False, new_country=False, hour_of_day=14, geo_flag=False, velocity_flag=False,
    new_device_flag=False, high_amount_flag=False,
)  # fmt: skip
MODEL_FILE = MODELS_DIR / "lr-v1.json"


def test_thresholds_band_edges() -> None:
    t = Thresholds(0.3, 0.7)
    assert [t.band(p) for p in (0.0, 0.2999, 0.3, 0.6999, 0.7, 1.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    with pytest.raises(ValueError):
        Thresholds(0.7, 0.3)


@pytest.mark.parametrize(
    ("code", "features", "amount"),
    [
        ("IMPOSSIBLE_TRAVEL", replace(QUIET, geo_flag=True, distance_km=900.0, speed_kmh=5_000.0), 20.0),
        ("CARD_TESTING", replace(QUIET, count_1h=12, amount_sum_1h=18.0), 1.5),
        ("NEW_DEVICE_HIGH_AMOUNT", replace(QUIET, new_device=True, new_device_flag=True), 400.0),
        ("VELOCITY_1M", replace(QUIET, count_1m=5, count_1h=5, velocity_flag=True), 20.0),
        ("VELOCITY_1H", replace(QUIET, count_1h=30, velocity_flag=True), 20.0),
        ("HIGH_AMOUNT", replace(QUIET, high_amount_flag=True), 1_500.0),
        ("AMOUNT_SPIKE", replace(QUIET, amount_zscore=4.5), 90.0),
        ("NEW_COUNTRY", replace(QUIET, new_country=True), 20.0),
    ],
)
def test_each_rule_fires_alone(code: str, features: Features, amount: float) -> None:
    scorer = RulesScorer()
    quiet = scorer.score(event(amount=amount), QUIET)
    assert quiet.reasons == () and quiet.score == 0.0 and quiet.risk_band == "low"
    s = scorer.score(event(amount=amount), features)
    assert s.reasons == (code,)
    assert s.score == pytest.approx(next(r.weight for r in RULES if r.code == code))
    assert s.model_version == "rules-v1"


def test_rules_combine_as_noisy_or_most_severe_first() -> None:
    f = replace(QUIET, new_country=True, geo_flag=True, distance_km=900.0, speed_kmh=5_000.0)
    s = RulesScorer(Thresholds(0.3, 0.65)).score(event(), f)
    assert s.reasons == ("IMPOSSIBLE_TRAVEL", "NEW_COUNTRY")
    assert s.score == pytest.approx(1 - (1 - 0.6) * (1 - 0.15))
    assert s.risk_band == "high"


def test_logistic_probability_equals_a_manual_computation_from_the_file() -> None:
    doc = json.loads(MODEL_FILE.read_text())
    ev = event(amount=480.0)
    f = replace(QUIET, new_device=True, new_device_flag=True, amount_zscore=3.2, amount_ratio=6.0)
    named = dict(zip(FEATURE_NAMES, vectorize(ev, f), strict=True))
    x = [named[n] for n in doc["features"]]  # the features the file names, from the full vector
    logit = doc["intercept"] + sum(
        c * (v - m) / s
        for c, v, m, s in zip(doc["coefficients"], x, doc["scaling"]["mean"], doc["scaling"]["std"], strict=True)
    )
    expected = 1.0 / (1.0 + math.exp(-logit))
    scored = LogisticScorer(LogisticModel.load("lr-v1.json")).score(ev, f)
    assert scored.score == pytest.approx(expected, rel=1e-12)
    assert scored.model_version == doc["model_version"] == "lr-v1"


def test_logistic_reasons_rules_first_then_contributions_in_order() -> None:
    model = LogisticModel(
        model_version="toy",
        features=FEATURE_NAMES,
        intercept=-2.0,
        coefficients=tuple(
            {"log_count_1m": 3.0, "new_device": 1.0, "log_amount": 0.5, "missing_geo": 0.1}.get(n, 0.0)
            for n in FEATURE_NAMES
        ),
        mean=(0.0,) * len(FEATURE_NAMES),
        std=(1.0,) * len(FEATURE_NAMES),
        training={},
    )
    scorer = LogisticScorer(model)
    f = replace(QUIET, count_1m=6, count_1h=6, velocity_flag=True, new_device=True)
    s = scorer.score(event(amount=math.e - 1.0, geo=None), f)
    # contributions: log_count_1m 3*ln 7 = 5.84, new_device 1.0, log_amount 0.5*1 = 0.5, missing_geo 0.1
    assert s.reasons == ("VELOCITY_1M", "COUNT_1M", "NEW_DEVICE", "AMOUNT", MISSING_GEO)
    assert s.score == pytest.approx(sigmoid(-2.0 + 3.0 * math.log(7.0) + 1.0 + 0.5 + 0.1))


def test_missing_inputs_score_with_defaults_and_say_so() -> None:
    f = replace(QUIET, amount_zscore=None, amount_ratio=None, distance_km=None, speed_kmh=None, amount_sum_1h=0.0)
    bare = event(amount=None, geo=None, device=None, country=None, event_type="login")
    for scorer in (RulesScorer(), LogisticScorer(LogisticModel.load(MODEL_FILE))):
        s = scorer.score(bare, f)
        assert 0.0 <= s.score <= 1.0
        assert {MISSING_AMOUNT, MISSING_GEO} <= set(s.reasons)
        # A defaulted input is never given as a reason.
        assert not {"AMOUNT", "DISTANCE_KM", "SPEED_KMH", "AMOUNT_ZSCORE", "AMOUNT_RATIO"} & set(s.reasons)
    x = vectorize(bare, f)
    assert x[FEATURE_NAMES.index("log_amount")] == 0.0 and x[FEATURE_NAMES.index("missing_amount")] == 1.0
    assert x[FEATURE_NAMES.index("log_distance_km")] == 0.0 and x[FEATURE_NAMES.index("missing_geo")] == 1.0


def test_an_unset_indicator_is_never_a_reason() -> None:
    # lr-v1 has a negative coefficient for missing_amount: its absence adds log-odds, but is no reason.
    model = LogisticModel.load(MODEL_FILE)
    assert model.coefficients[FEATURE_NAMES.index("missing_amount")] < 0
    f = replace(QUIET, count_1m=9, count_1h=9, amount_sum_1h=9.0, velocity_flag=True)
    s = LogisticScorer(model).score(event(amount=1.0), f)
    assert MISSING_AMOUNT not in s.reasons and MISSING_GEO not in s.reasons
    assert s.reasons[:2] == ("CARD_TESTING", "VELOCITY_1M") and "SMALL_AMOUNT" in s.reasons


def test_model_file_must_match_the_feature_vector(tmp_path: Path) -> None:
    doc = json.loads(MODEL_FILE.read_text())
    with pytest.raises(ModelFileError, match="must follow the code's order"):
        LogisticModel.from_dict(dict(doc, features=doc["features"][::-1]))
    with pytest.raises(ModelFileError, match="trained on features"):
        LogisticModel.from_dict(dict(doc, features=[*doc["features"][:-1], "log_unknown_feature"]))
    with pytest.raises(ModelFileError, match="lengths"):
        LogisticModel.from_dict(dict(doc, coefficients=doc["coefficients"][:-1]))
    with pytest.raises(ModelFileError, match="malformed"):
        LogisticModel.from_dict({"model_version": "x"})
    path = tmp_path / "lr-v9.json"
    path.write_text(json.dumps(dict(doc, model_version="lr-v9")))
    assert LogisticModel.load(path).model_version == "lr-v9"


def test_load_scorer_follows_the_settings() -> None:
    assert isinstance(load_scorer({"SCORER": "rules"}), RulesScorer)
    lr = load_scorer(
        {"SCORER": "logistic", "MODEL_FILE": "lr-v1.json", "MEDIUM_THRESHOLD": "0.2", "HIGH_THRESHOLD": "0.9"}
    )
    assert isinstance(lr, LogisticScorer) and lr.thresholds == Thresholds(0.2, 0.9)
    sm = load_scorer({"SCORER": "sagemaker", "SAGEMAKER_ENDPOINT": "risk-lr"}, sagemaker_client=object())
    assert isinstance(sm, SageMakerScorer) and isinstance(sm.fallback, LogisticScorer)
    with pytest.raises(ValueError, match="SAGEMAKER_ENDPOINT"):
        load_scorer({"SCORER": "sagemaker"})
    with pytest.raises(ValueError, match="expected one of"):
        load_scorer({"SCORER": "magic"})
