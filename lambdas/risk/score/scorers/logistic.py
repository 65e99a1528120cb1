"""Logistic regression from a versioned model file written by ``tools/train_model.py``.

File (``risk/score/models/<version>.json``): ``model_version``, ``features`` (the names it uses,
in the order of :data:`risk.score.vector.FEATURE_NAMES`), ``intercept``, ``coefficients``,
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
from risk.score.scorers.base import Contribution, Thresholds, best_by_code, dedupe_reasons
from risk.score.scorers.reasons import ReasonPicker
from risk.score.scorers.rules import RuleTerms, fired_rules
from risk.score.vector import FEATURE_NAMES, MISSING_AMOUNT, MISSING_GEO, missing_reasons, vectorize

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# Data quality, not risk: never a contribution, even when a model's missing-input indicator is picked.
MISSING_INPUT_CODES = frozenset({MISSING_AMOUNT, MISSING_GEO})


def model_path(path: str | Path) -> Path:
    """A model file as given, or by its name in the bundled models directory (cdk.json names them so)."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else MODELS_DIR / p


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
        feature_indices(model.model_version, model.features)
        n = len(model.features)
        if not len(model.coefficients) == len(model.mean) == len(model.std) == n:
            raise ModelFileError(f"model {model.model_version}: coefficient/scaling lengths differ from {n} features")
        if any(s <= 0.0 for s in model.std):
            raise ModelFileError(f"model {model.model_version}: scaling std must be positive")
        return model

    @classmethod
    def load(cls, path: str | Path) -> LogisticModel:
        return cls.from_dict(orjson.loads(model_path(path).read_bytes()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "features": list(self.features),
            "intercept": self.intercept,
            "coefficients": list(self.coefficients),
            "scaling": {"mean": list(self.mean), "std": list(self.std)},
            "training": self.training,
        }


def feature_indices(version: str, names: Sequence[str]) -> tuple[int, ...]:
    """Positions of a model's features in the code's vector; they must be a subsequence of it."""
    try:
        idx = tuple(FEATURE_NAMES.index(n) for n in names)
    except ValueError:
        raise ModelFileError(
            f"model {version} was trained on features {tuple(names)}, this code builds {FEATURE_NAMES}"
        ) from None
    if list(idx) != sorted(set(idx)):
        raise ModelFileError(f"model {version}: features must follow the code's order {FEATURE_NAMES}")
    return idx


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
        self._idx = feature_indices(model.model_version, model.features)
        self._all = self._idx == tuple(range(len(FEATURE_NAMES)))
        self._reasons = ReasonPicker(model.features)
        self._rules = RuleTerms(model.features)

    def select(self, x: list[float]) -> list[float]:
        """The model's features out of the full vector."""
        return x if self._all else [x[k] for k in self._idx]

    def contributions(self, x: Sequence[float]) -> list[float]:
        """Log-odds contribution of each feature, relative to the training mean."""
        return [w * v - s for w, v, s in zip(self._w, x, self._shift, strict=True)]

    def score(self, event: RiskEvent, features: Features) -> Score:
        x = self.select(vectorize(event, features))
        contrib = self.contributions(x)
        p = sigmoid(self.model.intercept + sum(contrib))
        codes, contributions = model_reasons(self._reasons, self._rules, event, features, x=x, contrib=contrib)
        return Score(p, self.thresholds.band(p), self.model_version, codes, contributions)

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        return [self.score(e, f) for e, f in zip(events, features, strict=True)]


def model_reasons(
    picker: ReasonPicker,
    rules: RuleTerms,
    event: RiskEvent,
    features: Features,
    *,
    x: Sequence[float],
    contrib: Sequence[float],
) -> tuple[tuple[str, ...], tuple[Contribution, ...]]:
    """A bundled model's reasons with their log-odds contributions: the rules that fired (the model's
    contribution of the features each tests), the top feature contributions, then the missing inputs
    (no contribution: they are not risk, also when the picker named a model's missing-input indicator)."""
    fired = fired_rules(event, features)
    picked = picker.pick(event, features, x, contrib)
    by_code = best_by_code(picker.codes, contrib) if picked else {}
    missing = missing_reasons(event)
    return dedupe_reasons(
        [
            *((r.code, rules.of(r, contrib)) for r in fired),
            *((code, None if code in MISSING_INPUT_CODES else by_code[code]) for code in picked),
            *((code, None) for code in missing),
        ]
    )
