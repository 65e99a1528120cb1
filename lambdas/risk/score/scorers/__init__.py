"""Scorers: rules, logistic regression or XGBoost trees from a model file, or a SageMaker endpoint (``SCORER``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from risk.common import aws, settings
from risk.score.scorers import sagemaker as _sagemaker
from risk.score.scorers.base import Scorer, Thresholds
from risk.score.scorers.logistic import MODELS_DIR, LogisticModel, LogisticScorer
from risk.score.scorers.rules import RulesScorer
from risk.score.scorers.sagemaker import SageMakerScorer
from risk.score.scorers.trees import KIND as TREES_KIND
from risk.score.scorers.trees import TreeModel, TreeScorer

DEFAULT_MODEL_FILE = "lr-v1.json"
DEFAULT_XGB_FILE = "xgb-v2.json"  # the newest; xgb-v1.json stays, the rollback target
SCORERS = ("rules", "logistic", "xgboost", "sagemaker")

__all__ = [
    "LogisticScorer",
    "RulesScorer",
    "SageMakerScorer",
    "Scorer",
    "Thresholds",
    "TreeScorer",
    "load_model_file",
    "load_scorer",
]


def load_model_file(name: str, thresholds: Thresholds) -> LogisticScorer | TreeScorer:
    """The bundled model a file holds: XGBoost trees (``"kind": "xgboost"``) or a logistic regression."""
    p = Path(name)
    if not p.is_absolute() and not p.exists():
        p = MODELS_DIR / p
    doc = orjson.loads(p.read_bytes())
    if isinstance(doc, dict) and doc.get("kind") == TREES_KIND:
        return TreeScorer(TreeModel.from_dict(doc), thresholds)
    return LogisticScorer(LogisticModel.from_dict(doc), thresholds)


def load_scorer(environ: Mapping[str, str] | None = None, sagemaker_client: Any = None) -> Scorer:
    """The scorer the settings ask for (``SCORER``: rules, logistic, xgboost or sagemaker; ``MODEL_FILE``
    the bundled model of logistic and xgboost, and sagemaker's fallback)."""
    env = os.environ if environ is None else environ
    kind = env.get(settings.SCORER) or "logistic"
    thresholds = Thresholds(
        float(env.get(settings.MEDIUM_THRESHOLD) or 0.3), float(env.get(settings.HIGH_THRESHOLD) or 0.7)
    )
    if kind == "rules":
        return RulesScorer(thresholds)
    if kind not in SCORERS:
        raise ValueError(f"{settings.SCORER}={kind!r}: expected one of {', '.join(SCORERS)}")
    default = DEFAULT_XGB_FILE if kind == "xgboost" else DEFAULT_MODEL_FILE
    local = load_model_file(env.get(settings.MODEL_FILE) or default, thresholds)
    if kind in ("logistic", "xgboost"):
        expected = LogisticScorer if kind == "logistic" else TreeScorer
        if not isinstance(local, expected):
            raise ValueError(f"{settings.SCORER}={kind}: {settings.MODEL_FILE} holds a {type(local).__name__} model")
        return local
    endpoint = env.get(settings.SAGEMAKER_ENDPOINT)
    if not endpoint:
        raise ValueError(f"{settings.SCORER}=sagemaker needs {settings.SAGEMAKER_ENDPOINT}")
    if sagemaker_client is None:
        sagemaker_client = aws.client(
            "sagemaker-runtime",
            connect_timeout=_sagemaker.CONNECT_TIMEOUT_S,
            read_timeout=_sagemaker.READ_TIMEOUT_S,
        )
    return SageMakerScorer(sagemaker_client, endpoint, thresholds, fallback=local)
