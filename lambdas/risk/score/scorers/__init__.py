"""Scorers: rules, logistic regression from a model file, or a SageMaker endpoint (``SCORER``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from risk.common import aws, settings
from risk.score.scorers.base import Scorer, Thresholds
from risk.score.scorers.logistic import LogisticModel, LogisticScorer
from risk.score.scorers.rules import RulesScorer
from risk.score.scorers.sagemaker import SageMakerScorer

DEFAULT_MODEL_FILE = "lr-v1.json"
SCORERS = ("rules", "logistic", "sagemaker")

__all__ = ["LogisticScorer", "RulesScorer", "SageMakerScorer", "Scorer", "Thresholds", "load_scorer"]


def load_scorer(environ: Mapping[str, str] | None = None, sagemaker_client: Any = None) -> Scorer:
    """The scorer the settings ask for (``SCORER``: rules, logistic or sagemaker)."""
    env = os.environ if environ is None else environ
    kind = env.get(settings.SCORER) or "logistic"
    thresholds = Thresholds(
        float(env.get(settings.MEDIUM_THRESHOLD) or 0.3), float(env.get(settings.HIGH_THRESHOLD) or 0.7)
    )
    if kind == "rules":
        return RulesScorer(thresholds)
    if kind not in SCORERS:
        raise ValueError(f"{settings.SCORER}={kind!r}: expected one of {', '.join(SCORERS)}")
    local = LogisticScorer(LogisticModel.load(env.get(settings.MODEL_FILE) or DEFAULT_MODEL_FILE), thresholds)
    if kind == "logistic":
        return local
    endpoint = env.get(settings.SAGEMAKER_ENDPOINT)
    if not endpoint:
        raise ValueError(f"{settings.SCORER}=sagemaker needs {settings.SAGEMAKER_ENDPOINT}")
    if sagemaker_client is None:
        sagemaker_client = aws.client("sagemaker-runtime")
    return SageMakerScorer(sagemaker_client, endpoint, thresholds, fallback=local)
