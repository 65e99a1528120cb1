"""Train the scorers reproducibly and write their versioned model files; evaluate them.

    python -m tools.train_model                    # writes lambdas/risk/score/models/lr-v1.json
    python -m tools.train_model --model xgb        # writes lambdas/risk/score/models/xgb-v1.json
    python -m tools.train_model --check            # fails if the checked-in file is not what this code trains
    python -m tools.train_model --evaluate         # writes docs/model-card.md (tools/model_card.py)

The XGBoost model is trained by ``tools/train_xgb.py``; what follows is the logistic regression.

Events come from ``tools.generator`` with a fixed seed; their features go through the
same code the Lambda runs (``risk.score.state.replay`` -> ``apply_batch``, then
``risk.score.vector.vectorize``), so training and serving cannot drift. The fit is
L2-regularised logistic regression by Newton's method (IRLS) on standardised
features; the split is by user (a user's events are all in train or all in test), so
the held-out metrics are not flattered by per-user leakage. numpy is used here only:
the Lambda code never imports it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from risk.score.scorers.logistic import MODELS_DIR, LogisticModel, LogisticScorer
from risk.score.state import replay
from risk.score.vector import BASE_FEATURES, vectorize
from tools.generator import V1_PATTERNS, generate

DEFAULT_COUNT = 60_000
DEFAULT_SEED = 20260105
DEFAULT_VERSION = "lr-v1"
L2 = 1.0
TEST_SHARE = 5  # one user in five is held out
THRESHOLDS = (0.3, 0.5, 0.7)
DIGITS = 8  # rounding of the written numbers: the file is byte-identical across runs


@dataclass
class Dataset:
    x: np.ndarray
    y: np.ndarray
    test: np.ndarray  # boolean mask of held-out rows


def build_dataset(count: int, seed: int) -> Dataset:
    generated = generate(count, seed, patterns=V1_PATTERNS, high_volume_share=0.0)  # lr-v1's data
    events = [g.as_risk_event() for g in generated]
    features, _ = replay(events)
    x = np.array([vectorize(e, f)[: len(BASE_FEATURES)] for e, f in zip(events, features, strict=True)])
    y = np.array([g.label for g in generated], dtype=np.float64)
    test = np.array([_held_out(e.user_id) for e in events], dtype=bool)
    return Dataset(x, y, test)


def _held_out(user_id: str) -> bool:
    return hashlib.blake2b(user_id.encode(), digest_size=4).digest()[0] % TEST_SHARE == 0


def fit(
    x: np.ndarray, y: np.ndarray, l2: float = L2, max_iter: int = 50
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(intercept, coefficients, mean, std) of an L2-regularised logistic regression (IRLS)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-12] = 1.0  # a constant feature: keep it, its coefficient goes to 0
    z = np.hstack([np.ones((x.shape[0], 1)), (x - mean) / std])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0  # the intercept is not shrunk
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        w = np.clip(p * (1.0 - p), 1e-9, None)
        grad = z.T @ (p - y) + penalty * beta
        hess = (z.T * w) @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[0]), beta[1:], mean, std


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = labels[order] == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def precision_recall(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    tp = float(np.sum(flagged & (labels == 1)))
    precision = tp / max(float(flagged.sum()), 1.0)
    recall = tp / max(float((labels == 1).sum()), 1.0)
    return {"threshold": threshold, "precision": round(precision, 4), "recall": round(recall, 4)}


def evaluate(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {
        "auc": round(auc(scores, labels), 4),
        "events": len(labels),
        "fraud_events": int(labels.sum()),
        "at_thresholds": [precision_recall(scores, labels, t) for t in THRESHOLDS],
    }


def _r(v: float) -> float:
    return round(float(v), DIGITS)


def train(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The model file's content (a dict), deterministic for a given count and seed."""
    data = build_dataset(count, seed)
    train_rows = ~data.test
    intercept, coef, mean, std = fit(data.x[train_rows], data.y[train_rows])
    model = LogisticModel(
        model_version=version,
        features=BASE_FEATURES,
        intercept=_r(intercept),
        coefficients=tuple(_r(c) for c in coef),
        mean=tuple(_r(m) for m in mean),
        std=tuple(_r(s) for s in std),
        training={},
    )
    scores = predict(model, data.x)
    doc = model.to_dict()
    doc["training"] = {
        "tool": "tools/train_model.py",
        "generator": "tools/generator.py",
        "seed": seed,
        "events": count,
        "l2": L2,
        "split": f"by user: 1 in {TEST_SHARE} users held out",
        "train": evaluate(scores[train_rows], data.y[train_rows]),
        "test": evaluate(scores[data.test], data.y[data.test]),
    }
    return doc


def predict(model: LogisticModel, x: np.ndarray) -> np.ndarray:
    """Probabilities for rows of vectors, with the model's own scaling (vectorised serving maths)."""
    w = np.array(model.coefficients) / np.array(model.std)
    logit = model.intercept + (x - np.array(model.mean)) @ w
    return 1.0 / (1.0 + np.exp(-logit))


def model_auc_on_fresh_data(model: LogisticModel, count: int, seed: int) -> float:
    """AUC of a model file on newly generated events, scored through the serving scorer."""
    generated = generate(count, seed, patterns=V1_PATTERNS, high_volume_share=0.0)
    events = [g.as_risk_event() for g in generated]
    features, _ = replay(events)
    scorer = LogisticScorer(model)
    scores = np.array([s.score for s in scorer.score_batch(events, features)])
    return auc(scores, np.array([g.label for g in generated], dtype=np.float64))


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train the risk models (logistic regression or XGBoost); evaluate them.")
    p.add_argument("--model", choices=("lr", "xgb"), default="lr")
    p.add_argument("--count", type=int, default=None, help="generated events (default: the model's)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--version", default=None, help="default: lr-v1 or xgb-v1")
    p.add_argument("--out", type=Path, default=None, help="default: lambdas/risk/score/models/<version>.json")
    p.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    p.add_argument("--evaluate", action="store_true", help="write docs/model-card.md from the checked-in models")
    args = p.parse_args(argv)
    if args.evaluate:
        from tools import model_card  # noqa: PLC0415 (only the evaluation needs it)

        model_card.CARD.write_text(model_card.card())
        print(f"wrote {model_card.CARD}")
        return 0
    if args.model == "xgb":
        from tools import train_xgb  # noqa: PLC0415 (xgboost loads only when asked for)

        version = args.version or train_xgb.VERSION
        doc, _, _ = train_xgb.train(args.count or train_xgb.COUNT, args.seed or train_xgb.SEED, version)
        text = train_xgb.render(doc)
    else:
        version = args.version or DEFAULT_VERSION
        text = render(train(args.count or DEFAULT_COUNT, args.seed or DEFAULT_SEED, version))
    out = args.out or MODELS_DIR / f"{version}.json"
    if args.check:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is not what tools/train_model.py produces; re-run it and commit", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
