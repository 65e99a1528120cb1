"""Each reason code's contribution: worked out by hand per scorer, aligned with the codes, none for missing inputs."""

from __future__ import annotations

import io
import math
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from risk.score.model import REASON_CONTRIBUTIONS, Score, ScoreError
from risk.score.scorers import RulesScorer, SageMakerScorer, load_model_file
from risk.score.scorers.base import Thresholds
from risk.score.scorers.logistic import LogisticModel, LogisticScorer, sigmoid
from risk.score.scorers.sagemaker import FALLBACK_REASON
from risk.score.scorers.trees import TreeModel, TreeScorer
from risk.score.vector import MISSING_AMOUNT, MISSING_GEO
from tests.score.conftest import event
from tests.score.test_scorers import QUIET

BUSY = replace(QUIET, count_1m=5, count_1h=5, velocity_flag=True, new_country=True)  # VELOCITY_1M, NEW_COUNTRY


def test_rules_contributions_are_shares_of_the_score_that_add_up_to_it() -> None:
    f = replace(QUIET, new_country=True, geo_flag=True, distance_km=900.0, speed_kmh=5_000.0)
    s = RulesScorer().score(event(amount=None), f)
    # p = 1 - 0.4 * 0.85 = 0.66; terms ln(1/0.4) = 0.916291 and ln(1/0.85) = 0.162519 share it.
    assert s.reasons == ("IMPOSSIBLE_TRAVEL", "NEW_COUNTRY", MISSING_AMOUNT)
    assert s.contributions == (pytest.approx(0.560573, abs=1e-6), pytest.approx(0.099427, abs=1e-6), None)
    assert s.contributions[0] + s.contributions[1] == pytest.approx(s.score)


def test_a_quiet_event_has_no_reasons_and_no_contributions_under_the_rules() -> None:
    s = RulesScorer().score(event(), QUIET)
    assert (s.reasons, s.contributions) == ((), ())


def _logistic() -> LogisticScorer:
    return LogisticScorer(
        LogisticModel.from_dict(
            {
                "model_version": "lr-hand",
                "features": ["log_count_1m", "new_country", "missing_amount"],
                "intercept": -4.0,
                "coefficients": [2.0, 1.0, 0.5],
                "scaling": {"mean": [0.5, 0.1, 0.0], "std": [0.5, 0.3, 1.0]},
            }
        )
    )


def test_logistic_contributions_are_the_terms_on_the_logit() -> None:
    s = _logistic().score(event(amount=None), BUSY)
    # log_count_1m: 2.0 * (ln 6 - 0.5) / 0.5 = 5.167038; new_country: 1.0 * (1 - 0.1) / 0.3 = 3.0;
    # missing_amount: 0.5 * (1 - 0) / 1 = 0.5 is picked too, but a missing input has no contribution.
    assert s.reasons == ("VELOCITY_1M", "NEW_COUNTRY", "COUNT_1M", MISSING_AMOUNT)
    assert s.contributions == (
        pytest.approx(5.167038, abs=1e-6),
        pytest.approx(3.0),
        pytest.approx(5.167038, abs=1e-6),
        None,
    )
    assert s.score == pytest.approx(sigmoid(-4.0 + 5.167038 + 3.0 + 0.5), abs=1e-6)


def test_a_rule_whose_features_the_model_lacks_has_no_contribution() -> None:
    s = _logistic().score(event(amount=1_500.0), replace(QUIET, high_amount_flag=True))
    # count_1m 1: 2.0 * (ln 2 - 0.5) / 0.5 = 0.772589 is positive, so COUNT_1M is a reason too.
    assert s.reasons == ("HIGH_AMOUNT", "COUNT_1M")
    assert s.contributions == (None, pytest.approx(0.772589, abs=1e-6))


def _one_split_tree() -> TreeScorer:
    # Root splits on log_count_1m < 1.0: left leaf -1.0, right leaf 2.0, root mean 0.5.
    tree = {"split": [0, -1, -1], "threshold": [1.0, 0, 0], "left": [1, 0, 0], "right": [2, 0, 0],
            "default_left": [1, 0, 0], "value": [0.5, -1.0, 2.0]}  # fmt: skip
    doc = {"model_version": "xgb-hand", "kind": "xgboost", "features": ["log_count_1m"], "base_margin": -1.0}
    return TreeScorer(TreeModel.from_dict({**doc, "trees": [tree]}))


def test_tree_contributions_are_the_saabas_terms_of_the_path() -> None:
    s = _one_split_tree().score_batch([event(geo=None)], [BUSY])[0]
    # ln 6 = 1.79 >= 1.0: right, 2.0 - 0.5 = 1.5 to log_count_1m; the model has no new_country.
    assert s.reasons == ("VELOCITY_1M", "NEW_COUNTRY", "COUNT_1M", MISSING_GEO)
    assert s.contributions == (1.5, None, 1.5, None)
    assert s.score == pytest.approx(sigmoid(-1.0 + 2.0))


@pytest.mark.parametrize("model_file", ["lr-v1.json", "xgb-v1.json"])
def test_bundled_models_give_every_picked_feature_a_positive_contribution_and_missing_inputs_none(
    model_file: str,
) -> None:
    scorer = load_model_file(model_file, Thresholds())
    events = [event(amount=None, geo=None), event(amount=1.5), event(amount=900.0)]
    features = [BUSY, replace(BUSY, count_1h=12, amount_sum_1h=18.0), replace(QUIET, high_amount_flag=True)]
    missing = {MISSING_AMOUNT, MISSING_GEO}
    feature_codes = set(scorer._reasons.codes) - missing - {"NEW_COUNTRY"}  # NEW_COUNTRY is also a rule
    scores = scorer.score_batch(events, features)
    assert missing <= set(scores[0].reasons)
    for s in scores:
        assert s.contributions is not None and len(s.contributions) == len(s.reasons)
        by_code = dict(zip(s.reasons, s.contributions, strict=True))
        assert [by_code[code] for code in missing & by_code.keys()] == [None] * len(missing & by_code.keys())
        picked = [c for code, c in by_code.items() if code in feature_codes]
        assert picked and all(c is not None and c > 0.0 for c in picked)


def _stubbed_runtime(answer: str) -> tuple[Any, Stubber]:
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    raw = answer.encode()
    stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(raw), len(raw))})
    return client, stub


def test_sagemaker_scores_carry_no_contributions_and_its_fallback_carries_the_local_models() -> None:
    client, stub = _stubbed_runtime("0.8")
    with stub:
        [remote] = SageMakerScorer(client, "ep").score_batch([event()], [BUSY])
    assert remote.reasons == ("VELOCITY_1M", "NEW_COUNTRY") and remote.contributions is None
    client, stub = _stubbed_runtime("not a number")
    local = _logistic()
    with stub:
        [fallback] = SageMakerScorer(client, "ep", fallback=local).score_batch([event()], [BUSY])
    expected = local.score(event(), BUSY)
    assert fallback.reasons == (*expected.reasons, FALLBACK_REASON)
    assert fallback.contributions == (*expected.contributions, None)  # type: ignore[misc]


def test_the_wire_form_carries_contributions_and_reads_back_the_same() -> None:
    s = Score(0.66, "medium", "rules-v1", ("IMPOSSIBLE_TRAVEL", MISSING_GEO), (0.5, None))
    assert s.to_dict()[REASON_CONTRIBUTIONS] == [0.5, None]
    assert Score.from_dict(s.to_dict()) == s


def test_a_score_from_before_contributions_reads_with_none() -> None:
    old = {"score": 0.4, "risk_band": "medium", "model_version": "lr-v1", "reasons": ["COUNT_1M"]}
    assert Score.from_dict(old).contributions is None
    assert Score.from_dict(old).to_dict()[REASON_CONTRIBUTIONS] is None


@pytest.mark.parametrize(
    ("contributions", "message"),
    [
        ([0.5], "1 reason contributions for 2 reason codes"),
        ([0.5, 0.1, 0.2], "3 reason contributions for 2 reason codes"),
        ([0.5, math.inf], "not a finite number"),
        ([0.5, "0.1"], "not a finite number"),
        ([True, None], "not a finite number"),
        ("ab", "not a finite number"),
    ],
)
def test_misaligned_or_non_numeric_contributions_break_the_contract(contributions: Any, message: str) -> None:
    doc = {"score": 0.4, "risk_band": "medium", "model_version": "lr-v1", "reasons": ["A", "B"]}
    with pytest.raises(ScoreError, match=message):
        Score.from_dict({**doc, REASON_CONTRIBUTIONS: contributions})
