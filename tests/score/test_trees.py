"""The XGBoost scorer: the function's pure-Python trees against xgboost itself, and the checked-in model."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from risk.score.scorers import load_scorer
from risk.score.scorers.logistic import MODELS_DIR, ModelFileError
from risk.score.scorers.trees import TreeModel, TreeScorer, as_float32
from risk.score.state import replay
from risk.score.vector import FEATURE_NAMES, MISSING_AMOUNT, MISSING_GEO, vectorize
from tests.score.conftest import event

CHECKED_IN = MODELS_DIR / "xgb-v2.json"  # the newest: what tools/train_xgb.py trains
ROLLBACK = MODELS_DIR / "xgb-v1.json"  # kept as the rollback target (trained before TIMING_FEATURES)
CONTRIB_ROWS = 2_000


@pytest.fixture(scope="module")
def trained() -> Any:
    """The checked-in model's training, re-run: (file text, booster, split). xgboost is a dev
    dependency (the function never imports it): skipped where it is not installed (the runtime venv)."""
    pytest.importorskip("xgboost")
    from tools import train_xgb  # noqa: PLC0415

    doc = json.loads(CHECKED_IN.read_text())
    out, booster, split = train_xgb.train(doc["training"]["events"], doc["training"]["seed"], doc["model_version"])
    return train_xgb.render(out), booster, split


def test_the_checked_in_xgb_model_is_what_training_produces(trained: Any) -> None:
    text, _, _ = trained
    assert CHECKED_IN.read_text() == text, "re-run `python -m tools.train_model --model xgb` and commit its output"


def test_function_scores_equal_xgboost_predictions_within_1e6_on_the_evaluation_set(trained: Any) -> None:
    _, booster, split = trained
    xgb = pytest.importorskip("xgboost")
    idx = np.flatnonzero(split.test)
    assert len(idx) > 10_000
    scorer = TreeScorer(TreeModel.load(CHECKED_IN))
    ours = np.array(
        [s.score for s in scorer.score_batch([split.events[i] for i in idx], [split.features[i] for i in idx])]
    )
    theirs = booster.predict(xgb.DMatrix(split.x[idx], feature_names=list(FEATURE_NAMES)))
    assert np.max(np.abs(ours - theirs)) <= 1e-6
    assert ours.std() > 0.1  # not a constant: the comparison means something


def test_contributions_equal_xgboosts_approx_pred_contribs(trained: Any) -> None:
    _, booster, split = trained
    xgb = pytest.importorskip("xgboost")
    idx = np.flatnonzero(split.test)[:CONTRIB_ROWS]
    scorer = TreeScorer(TreeModel.load(CHECKED_IN))
    rows = scorer.rows([split.events[i] for i in idx], [split.features[i] for i in idx])
    ours = np.array([[*c, b] for _, c, b in map(scorer.evaluator.explain, rows)])
    theirs = booster.predict(
        xgb.DMatrix(split.x[idx], feature_names=list(FEATURE_NAMES)), pred_contribs=True, approx_contribs=True
    )
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= 1e-5
    margins = booster.predict(xgb.DMatrix(split.x[idx], feature_names=list(FEATURE_NAMES)), output_margin=True)
    assert np.max(np.abs(ours.sum(axis=1) - margins)) <= 1e-5  # bias + contributions = the margin


def _stump(threshold: float, default_left: int = 1) -> dict[str, Any]:
    return {
        "model_version": "xgb-toy",
        "kind": "xgboost",
        "features": list(FEATURE_NAMES),
        "base_margin": 0.0,
        "trees": [
            {
                "split": [0, -1, -1],
                "threshold": [threshold, 0.0, 0.0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "default_left": [default_left, 0, 0],
                "value": [0.0, -1.0, 1.0],
            }
        ],
        "training": {},
    }


def test_splits_compare_in_float32_and_missing_values_take_the_default_branch() -> None:
    model = TreeModel.from_dict(_stump(0.1))
    scorer = TreeScorer(model)
    x = [0.0] * len(FEATURE_NAMES)
    # 0.1 < float32(0.1) in float64, but xgboost reads the input as float32: equal, so not left.
    x[0] = 0.1
    assert scorer.evaluator.margins([as_float32(x)]) == [1.0]
    x[0] = math.nan
    assert scorer.evaluator.margins([x]) == [-1.0]
    assert TreeScorer(TreeModel.from_dict(_stump(0.1, default_left=0))).evaluator.margins([x]) == [1.0]


def test_a_malformed_or_foreign_model_file_is_refused_in_one_line() -> None:
    doc = _stump(1.0)
    with pytest.raises(ModelFileError, match="not an xgboost model file"):
        TreeModel.from_dict(dict(doc, kind="logistic"))
    with pytest.raises(ModelFileError, match="out of range"):
        TreeModel.from_dict(dict(doc, trees=[dict(doc["trees"][0], left=[7, -1, -1])]))
    with pytest.raises(ModelFileError, match="differ in length"):
        TreeModel.from_dict(dict(doc, trees=[dict(doc["trees"][0], value=[0.0])]))
    with pytest.raises(ModelFileError, match="trained on features"):
        TreeModel.from_dict(dict(doc, features=["log_unknown"]))


def test_load_scorer_gives_the_xgboost_scorer_and_its_reasons_name_what_the_event_has() -> None:
    scorer = load_scorer({"SCORER": "xgboost", "MODEL_FILE": "xgb-v2.json"})
    assert isinstance(scorer, TreeScorer) and scorer.model_version == "xgb-v2"
    with pytest.raises(ValueError, match="holds a LogisticScorer"):
        load_scorer({"SCORER": "xgboost", "MODEL_FILE": "lr-v1.json"})
    # A burst of ten payments in a minute from a user who paid twice a day before.
    history = [event(43_200.0 * k, user="b", amount=30.0) for k in range(4)]
    burst = [event(180_000.0 + 5.0 * k, user="b", amount=30.0) for k in range(10)]
    feats, _ = replay([*history, *burst])
    s = scorer.score(burst[-1], feats[-1])
    assert s.risk_band == "high" and "VELOCITY_1M" in s.reasons
    assert {"COUNT_1M", "VELOCITY_RATIO_1M"} & set(s.reasons)
    bare = event(0.0, user="c", amount=None, geo=None)
    [f] = replay([bare])[0]
    s = scorer.score(bare, f)
    assert {MISSING_AMOUNT, MISSING_GEO} <= set(s.reasons)
    assert not {"AMOUNT", "AMOUNT_RATIO", "DISTANCE_KM", "SPEED_KMH", "SPEND_RATIO_1H"} & set(s.reasons)


def test_the_rollback_model_xgb_v1_reads_its_own_features_from_the_longer_vector_and_still_ranks_fraud() -> None:
    from tools.generator import generate  # noqa: PLC0415
    from tools.train_model import auc  # noqa: PLC0415

    scorer = load_scorer({"SCORER": "xgboost", "MODEL_FILE": ROLLBACK.name})
    assert isinstance(scorer, TreeScorer) and scorer.model_version == "xgb-v1"
    model = TreeModel.load(ROLLBACK)
    assert len(model.features) < len(FEATURE_NAMES) and "log_seconds_since_last" not in model.features
    generated = generate(6_000, seed=515)
    events = [g.as_risk_event() for g in generated]
    feats, _ = replay(events)
    full = [vectorize(e, f) for e, f in zip(events, feats, strict=True)]
    picked = [[x[FEATURE_NAMES.index(n)] for n in model.features] for x in full]
    rows = [as_float32(x) for x in picked]
    assert scorer.rows(events, feats) == rows  # by name, in the model file's order
    scores = np.array([s.score for s in scorer.score_batch(events, feats)])
    margins = np.array(scorer.evaluator.margins(rows))
    assert np.max(np.abs(scores - 1.0 / (1.0 + np.exp(-margins)))) <= 1e-9
    assert auc(scores, np.array([g.label for g in generated], dtype=np.float64)) >= 0.95
