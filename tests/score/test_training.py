"""The training pipeline is deterministic, and the checked-in model is what it produces and is good."""

from __future__ import annotations

import json

import numpy as np
import pytest

from risk.score.scorers.logistic import MODELS_DIR, LogisticModel
from risk.score.vector import BASE_FEATURES
from tools import train_model

CHECKED_IN = MODELS_DIR / "lr-v1.json"
AUC_FLOOR = 0.9


def test_training_is_deterministic_for_a_seed() -> None:
    a = train_model.render(train_model.train(count=3_000, seed=11, version="lr-test"))
    b = train_model.render(train_model.train(count=3_000, seed=11, version="lr-test"))
    c = train_model.render(train_model.train(count=3_000, seed=12, version="lr-test"))
    assert a == b and a != c
    model = LogisticModel.from_dict(json.loads(a))  # loadable by the serving code
    assert model.features == BASE_FEATURES and model.model_version == "lr-test"


def test_fit_recovers_a_known_logistic_relationship() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 2))
    true = np.array([2.0, -1.0])
    y = (rng.random(20_000) < 1.0 / (1.0 + np.exp(-(0.5 + x @ true)))).astype(float)
    intercept, coef, mean, std = train_model.fit(x, y, l2=0.0)
    assert coef / std == pytest.approx(true, abs=0.1)
    assert intercept - float(coef @ (mean / std)) == pytest.approx(0.5, abs=0.1)


def test_auc_worked_numbers() -> None:
    assert train_model.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert train_model.auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
    pr = train_model.precision_recall(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 0, 1, 0]), 0.5)
    assert (pr["precision"], pr["recall"]) == (0.5, 0.5)


def test_the_checked_in_model_is_reproducible_and_holds_up_on_fresh_data() -> None:
    doc = json.loads(CHECKED_IN.read_text())
    assert doc["training"]["test"]["auc"] >= AUC_FLOOR
    model = LogisticModel.from_dict(doc)
    # Events the model never saw (another seed), scored through the serving code path.
    assert train_model.model_auc_on_fresh_data(model, count=10_000, seed=424242) >= AUC_FLOOR
    expected = train_model.render(
        train_model.train(doc["training"]["events"], doc["training"]["seed"], doc["model_version"])
    )
    assert CHECKED_IN.read_text() == expected, "re-run `python -m tools.train_model` and commit its output"
