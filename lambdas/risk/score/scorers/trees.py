"""Gradient-boosted trees (XGBoost, ``binary:logistic``) evaluated in pure Python from a compact JSON file.

Why not xgboost itself: its wheel (and numpy, scipy) would weigh more than the rest of the layer,
for a few hundred comparisons an event. ``tools/train_model.py`` trains with xgboost and exports
the trees (``risk/score/models/xgb-<n>.json``); ``tests/score/test_trees.py`` shows the scores here
equal xgboost's own predictions within 1e-6 and the contributions equal its
``pred_contribs(approx_contribs=True)``.

File: ``model_version``, ``kind: "xgboost"``, ``features`` (names, a subsequence of
:data:`risk.score.vector.FEATURE_NAMES`), ``base_margin`` (log-odds every tree adds to) and
``trees``: per tree, arrays indexed by node: ``split`` (feature position, -1 for a leaf),
``threshold`` (go left when ``x < threshold``, as xgboost does, in float32), ``left``, ``right``,
``default_left`` (where a missing value goes) and ``value`` (a leaf's value; an inner node's
cover-weighted mean of its leaves, what the Saabas contributions walk through). Every number is a
float32 value, as xgboost holds it.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from risk.events.model import RiskEvent
from risk.score.model import Features, Score
from risk.score.scorers.base import Thresholds
from risk.score.scorers.logistic import ModelFileError, feature_indices, model_path, model_reasons, sigmoid
from risk.score.scorers.reasons import ReasonPicker
from risk.score.scorers.rules import RuleTerms
from risk.score.vector import FEATURE_NAMES, vectorize

KIND = "xgboost"


@dataclass(frozen=True)
class Tree:
    split: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    default_left: tuple[bool, ...]
    value: tuple[float, ...]

    @classmethod
    def from_dict(cls, doc: dict[str, Any], n_features: int) -> Tree:
        tree = cls(
            tuple(int(v) for v in doc["split"]),
            tuple(as_float32([float(v) for v in doc["threshold"]])),  # written shortest: back to float32
            tuple(int(v) for v in doc["left"]),
            tuple(int(v) for v in doc["right"]),
            tuple(bool(v) for v in doc["default_left"]),
            tuple(as_float32([float(v) for v in doc["value"]])),
        )
        n = len(tree.split)
        if n == 0 or any(
            len(col) != n for col in (tree.threshold, tree.left, tree.right, tree.default_left, tree.value)
        ):
            raise ModelFileError("a tree's node arrays differ in length")
        for k in range(n):
            inner = tree.split[k] >= 0
            if inner and (tree.split[k] >= n_features or not (k < tree.left[k] < n and k < tree.right[k] < n)):
                raise ModelFileError(f"tree node {k}: feature or children out of range")
        return tree

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": list(self.split),
            "threshold": list(self.threshold),
            "left": list(self.left),
            "right": list(self.right),
            "default_left": [int(v) for v in self.default_left],
            "value": list(self.value),
        }


@dataclass(frozen=True)
class TreeModel:
    model_version: str
    features: tuple[str, ...]
    base_margin: float
    trees: tuple[Tree, ...]
    training: dict[str, Any]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TreeModel:
        try:
            if doc.get("kind") != KIND:
                raise ModelFileError(f"not an {KIND} model file (kind {doc.get('kind')!r})")
            features = tuple(str(n) for n in doc["features"])
            model = cls(
                model_version=str(doc["model_version"]),
                features=features,
                base_margin=float(doc["base_margin"]),
                trees=tuple(Tree.from_dict(t, len(features)) for t in doc["trees"]),
                training=dict(doc.get("training") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"malformed model file: {exc!r}") from exc
        feature_indices(model.model_version, model.features)
        return model

    @classmethod
    def load(cls, path: str | Path) -> TreeModel:
        return cls.from_dict(orjson.loads(model_path(path).read_bytes()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "kind": KIND,
            "features": list(self.features),
            "base_margin": self.base_margin,
            "trees": [t.to_dict() for t in self.trees],
            "training": self.training,
        }


def as_float32(x: Sequence[float]) -> list[float]:
    """The values xgboost compares: its inputs are float32 (a value just below a threshold in float64
    may round onto it)."""
    return array("f", x).tolist()


class TreeEvaluator:
    """Margins and Saabas contributions of rows: a walk down each tree, over tuples."""

    def __init__(self, model: TreeModel) -> None:
        self.base_margin = model.base_margin
        self.n_features = len(model.features)
        self._trees = [(t.split, t.threshold, t.left, t.right, t.default_left, t.value) for t in model.trees]

    def margins(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Log-odds of each row (float32 inputs, see :func:`as_float32`)."""
        out = []
        trees = self._trees
        for x in rows:
            margin = self.base_margin
            for split, thr, left, right, dleft, value in trees:
                n = 0
                f = split[0]
                while f >= 0:
                    v = x[f]
                    if v < thr[n]:
                        n = left[n]
                    elif v >= thr[n]:
                        n = right[n]
                    else:  # NaN: missing, xgboost's default direction
                        n = left[n] if dleft[n] else right[n]
                    f = split[n]
                margin += value[n]
            out.append(margin)
        return out

    def explain(self, x: Sequence[float]) -> tuple[float, list[float], float]:
        """The margin of one row, its per-feature log-odds contributions and the bias, in one walk.

        As xgboost's ``pred_contribs(approx_contribs=True)`` (Saabas): each split on a row's path
        credits its feature with the change of node value it leads to; the bias is the base margin
        plus every root's mean; bias + contributions = margin.
        """
        contrib = [0.0] * self.n_features
        bias = margin = self.base_margin
        for split, thr, left, right, dleft, value in self._trees:
            n = 0
            bias += value[0]
            f = split[0]
            while f >= 0:
                v = x[f]
                if v < thr[n]:
                    child = left[n]
                elif v >= thr[n]:
                    child = right[n]
                else:  # NaN
                    child = left[n] if dleft[n] else right[n]
                contrib[f] += value[child] - value[n]
                n = child
                f = split[n]
            margin += value[n]
        return margin, contrib, bias


class TreeScorer:
    """Scores from the trees; reasons: the rules that fired, then the top contributions, then missing inputs."""

    def __init__(self, model: TreeModel, thresholds: Thresholds | None = None) -> None:
        self.model = model
        self.model_version = model.model_version
        self.thresholds = thresholds or Thresholds()
        self.evaluator = TreeEvaluator(model)
        self._idx = feature_indices(model.model_version, model.features)
        self._all = self._idx == tuple(range(len(FEATURE_NAMES)))
        self._reasons = ReasonPicker(model.features)
        self._rules = RuleTerms(model.features)

    def rows(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[list[float]]:
        """The model's float32 inputs of each event."""
        out = []
        for e, f in zip(events, features, strict=True):
            x = vectorize(e, f)
            out.append(as_float32(x if self._all else [x[k] for k in self._idx]))
        return out

    def score(self, event: RiskEvent, features: Features) -> Score:
        return self.score_batch([event], [features])[0]

    def probabilities(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[float]:
        """Scores alone (no reasons): what a shadow needs, at about half the cost."""
        return [sigmoid(m) for m in self.evaluator.margins(self.rows(events, features))]

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        out = []
        for e, f, x in zip(events, features, self.rows(events, features), strict=True):
            margin, contrib, _ = self.evaluator.explain(x)
            p = sigmoid(margin)
            codes, contributions = model_reasons(self._reasons, self._rules, e, f, x=x, contrib=contrib)
            out.append(Score(p, self.thresholds.band(p), self.model_version, codes, contributions))
        return out
