"""Logistic regression from a versioned model file written by ``tools/train_model.py``.

File (``risk/score/models/<version>.json``): ``model_version``, ``features`` (must equal
:data:`risk.score.vector.FEATURE_NAMES`), ``intercept``, ``coefficients``,
``scaling.mean`` / ``scaling.std`` and ``training`` metadata (seed, sizes, metrics).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from risk.events.model import RiskEvent
from risk.score.model import Features, Score
from risk.score.scorers.base import Thresholds, dedupe
from risk.score.scorers.rules import fired_rules
from risk.score.vector import (
    AMOUNT_DERIVED,
    BINARY,
    FEATURE_NAMES,
    GEO_DERIVED,
    missing_reasons,
    reason_code,
    vectorize,
)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
TOP_CONTRIBUTIONS = 3  # features named as reasons, by log-odds contribution relative to the training mean


class ModelFileError(ValueError):
    """The model file does not match this code's feature vector or is malformed."""


@dataclass(frozen=True)
class LogisticModel:
    model_version: str
    features: tuple[str, ...]
    intercept: float
    coefficients: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    training: dict[str, Any]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LogisticModel:
        try:
            model = cls(
                model_version=str(doc["model_version"]),
                features=tuple(doc["features"]),
                intercept=float(doc["intercept"]),
                coefficients=tuple(float(c) for c in doc["coefficients"]),
                mean=tuple(float(m) for m in doc["scaling"]["mean"]),
                std=tuple(float(s) for s in doc["scaling"]["std"]),
                training=dict(doc.get("training") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"malformed model file: {exc!r}") from exc
        if model.features != FEATURE_NAMES:
            raise ModelFileError(
                f"model {model.model_version} was trained on features {model.features}, "
                f"this code builds {FEATURE_NAMES}"
            )
        n = len(FEATURE_NAMES)
        if not len(model.coefficients) == len(model.mean) == len(model.std) == n:
            raise ModelFileError(f"model {model.model_version}: coefficient/scaling lengths differ from {n} features")
        if any(s <= 0.0 for s in model.std):
            raise ModelFileError(f"model {model.model_version}: scaling std must be positive")
        return model

    @classmethod
    def load(cls, path: str | Path) -> LogisticModel:
        p = Path(path)
        if not p.is_absolute() and not p.exists():
            p = MODELS_DIR / p
        return cls.from_dict(orjson.loads(p.read_bytes()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "features": list(self.features),
            "intercept": self.intercept,
            "coefficients": list(self.coefficients),
            "scaling": {"mean": list(self.mean), "std": list(self.std)},
            "training": self.training,
        }


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


class LogisticScorer:
    def __init__(self, model: LogisticModel, thresholds: Thresholds | None = None) -> None:
        self.model = model
        self.model_version = model.model_version
        self.thresholds = thresholds or Thresholds()
        # Folded scaling: contribution_i = w_i * x_i - w_i * mean_i, with w_i = coef_i / std_i.
        self._w = tuple(c / s for c, s in zip(model.coefficients, model.std, strict=True))
        self._shift = tuple(w * m for w, m in zip(self._w, model.mean, strict=True))
        self._codes = tuple(reason_code(name) for name in FEATURE_NAMES)
        self._binary_idx = tuple(k for k, n in enumerate(FEATURE_NAMES) if n in BINARY)
        self._amount_idx = frozenset(k for k, n in enumerate(FEATURE_NAMES) if n in AMOUNT_DERIVED)
        self._geo_idx = frozenset(k for k, n in enumerate(FEATURE_NAMES) if n in GEO_DERIVED)

    def contributions(self, x: Sequence[float]) -> list[float]:
        """Log-odds contribution of each feature, relative to the training mean."""
        return [w * v - s for w, v, s in zip(self._w, x, self._shift, strict=True)]

    def score(self, event: RiskEvent, features: Features) -> Score:
        x = vectorize(event, features)
        contrib = self.contributions(x)
        p = sigmoid(self.model.intercept + sum(contrib))
        # Reasons are what the event *has*: an unset indicator or a defaulted input is none.
        skip = {k for k in self._binary_idx if x[k] == 0.0}
        if event.amount is None:
            skip |= self._amount_idx
        if event.geo is None:
            skip |= self._geo_idx
        candidates = [k for k in range(len(contrib)) if k not in skip]
        top = sorted(candidates, key=contrib.__getitem__, reverse=True)[:TOP_CONTRIBUTIONS]
        codes = [r.code for r in fired_rules(event, features)]
        codes += [self._codes[k] for k in top if contrib[k] > 0.0]
        codes += missing_reasons(event)
        return Score(p, self.thresholds.band(p), self.model_version, dedupe(codes))

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        return [self.score(e, f) for e, f in zip(events, features, strict=True)]
