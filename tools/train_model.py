"""Train the scorers reproducibly and write their versioned model files; evaluate them.

    python -m tools.train_model                    # writes lambdas/risk/score/models/lr-v1.json
    python -m tools.train_model --model xgb        # writes lambdas/risk/score/models/xgb-v2.json
    python -m tools.train_model --check            # fails if the checked-in file is not what this code trains
    python -m tools.train_model --evaluate         # writes docs/model-card.md (tools/model_card.py)
    python -m tools.train_model --from-export labels.csv --version lr-v2   # trains on warehouse labels

``--from-export`` trains the logistic regression on real outcomes instead: the CSV (header row) or
JSON Lines that docs/analyst-guide.md's "Labels for training" query returns. The stored feature
columns rebuild ``Features``; amount and geo_lat are the vector's only other inputs.

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
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import numpy as np

from risk.events.model import RiskEvent
from risk.score.model import Features
from risk.score.scorers.logistic import MODELS_DIR, LogisticModel, LogisticScorer
from risk.score.state import replay
from risk.score.vector import BASE_FEATURES, FEATURE_NAMES, vectorize
from risk.warehouse.columns import RISK_EVENTS_COLUMNS
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


class ExportError(ValueError):
    """An export that cannot be trained on; the message names the file (and line) and what to fix."""


_KINDS = dict(RISK_EVENTS_COLUMNS)  # the warehouse's column kinds: how to read each exported value back
_FEATURE_FIELDS = tuple(f.name for f in fields(Features))
# Features that are never None (NOT NULL in the table): an empty one means the export is not the guide's.
_REQUIRED = frozenset(f.name for f in fields(Features) if "None" not in str(f.type))
EXPORT_COLUMNS = ("user_id", "event_id", "amount", "geo_lat", *_FEATURE_FIELDS, "is_fraud")
_TRUE, _FALSE = frozenset({"true", "t", "1"}), frozenset({"false", "f", "0"})


@dataclass(frozen=True)
class _Exported:
    """What ``vectorize`` reads of an event (amount, geo); the export carries nothing else of it."""

    amount: float | None
    geo: float | None  # the latitude: vectorize only asks whether the event had a location


def _value(raw: object, kind: str, where: str, name: str) -> Any:
    """One exported value as its column kind; CSV gives text (empty for NULL), JSON Lines gives JSON types."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip().lower()
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError(raw)
        if kind == "int":
            return int(text)
        return float(text)
    except ValueError:
        raise ExportError(f"{where}: {name} must be {kind}, got {raw!r}") from None


def _records(path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    """(where, record) per row: JSON Lines for .jsonl/.ndjson/.json, CSV with a header row otherwise."""
    with path.open(newline="") as f:
        if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    try:
                        doc = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ExportError(f"{path}:{n}: not JSON ({exc.msg})") from None
                    if not isinstance(doc, dict):
                        raise ExportError(f"{path}:{n}: expected a JSON object per line")
                    yield f"{path}:{n}", doc
        else:
            for n, row in enumerate(csv.DictReader(f), start=2):
                yield f"{path}:{n}", dict(row)


def read_export(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(user ids, vectors, labels) of an exported training set, vectors by ``vectorize`` as when serving."""
    users: list[str] = []
    vectors: list[list[float]] = []
    labels: list[float] = []
    for where, doc in _records(path):
        missing = [c for c in EXPORT_COLUMNS if c not in doc]
        if missing:
            raise ExportError(
                f"{where}: no column {missing[0]!r}: export with docs/analyst-guide.md's 'Labels for training' query"
            )
        values = {name: _value(doc[name], _KINDS[name], where, name) for name in _FEATURE_FIELDS}
        absent = sorted(n for n in _REQUIRED if values[n] is None)
        if absent:
            raise ExportError(f"{where}: {absent[0]} is empty; the warehouse stores it for every event")
        label = _value(doc["is_fraud"], "int", where, "is_fraud")
        if label not in (0, 1):
            raise ExportError(f"{where}: is_fraud must be 0 or 1, got {doc['is_fraud']!r}")
        user_id = doc["user_id"]
        if not isinstance(user_id, str) or not user_id:
            raise ExportError(f"{where}: user_id is empty (the split is by user)")
        lat = _value(doc["geo_lat"], "double", where, "geo_lat")
        event = _Exported(_value(doc["amount"], "decimal", where, "amount"), lat)
        # vectorize reads amount and geo only: the exported row stands in for the RiskEvent it came from.
        vectors.append(vectorize(cast(RiskEvent, event), Features(**values)))
        users.append(user_id)
        labels.append(float(label))
    if not users:
        raise ExportError(f"{path}: no rows")
    return users, np.array(vectors, dtype=np.float64), np.array(labels, dtype=np.float64)


def train_from_export(path: Path, version: str) -> dict[str, Any]:
    """The model file's content trained on an exported training set (all of the code's features)."""
    users, x, y = read_export(path)
    test = np.array([_held_out(u) for u in users], dtype=bool)
    for name, rows in (("training", ~test), ("held-out", test)):
        if len(set(y[rows].tolist())) < 2:
            raise ExportError(f"{path}: the {name} users have only one class of label; export more labelled events")
    intercept, coef, mean, std = fit(x[~test], y[~test])
    model = LogisticModel(
        model_version=version,
        features=FEATURE_NAMES,
        intercept=_r(intercept),
        coefficients=tuple(_r(c) for c in coef),
        mean=tuple(_r(m) for m in mean),
        std=tuple(_r(s) for s in std),
        training={},
    )
    scores = predict(model, x)
    doc = model.to_dict()
    doc["training"] = {
        "tool": "tools/train_model.py --from-export",
        "export": path.name,
        "export_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "events": len(y),
        "l2": L2,
        "split": f"by user: 1 in {TEST_SHARE} users held out",
        "train": evaluate(scores[~test], y[~test]),
        "test": evaluate(scores[test], y[test]),
    }
    return doc


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train the risk models (logistic regression or XGBoost); evaluate them.")
    p.add_argument("--model", choices=("lr", "xgb"), default="lr")
    p.add_argument("--count", type=int, default=None, help="generated events (default: the model's)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--version", default=None, help="default: lr-v1 or xgb-v2")
    p.add_argument("--out", type=Path, default=None, help="default: lambdas/risk/score/models/<version>.json")
    p.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    p.add_argument("--evaluate", action="store_true", help="write docs/model-card.md from the checked-in models")
    p.add_argument("--from-export", type=Path, default=None, help="train lr on a warehouse export (CSV or JSON Lines)")
    args = p.parse_args(argv)
    if args.out is not None and not args.out.parent.is_dir():  # refused before minutes of training, not after
        p.error(f"--out: no folder {args.out.parent} (create it, or give a path in an existing one)")
    if args.count is not None and args.count < 1:
        p.error(f"--count: {args.count} events trains nothing (give at least 1)")
    if args.from_export is not None:
        return _main_from_export(args)
    if args.evaluate:
        from tools import model_card  # noqa: PLC0415 (only the evaluation needs it)

        model_card.CARD.write_text(model_card.card())
        print(f"wrote {model_card.CARD}")
        return 0
    if args.model == "xgb":
        from tools import train_xgb  # noqa: PLC0415 (xgboost loads only when asked for)

        version = args.version or train_xgb.VERSION
        doc, booster, _ = train_xgb.train(args.count or train_xgb.COUNT, args.seed or train_xgb.SEED, version)
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
    if args.model == "xgb":  # the same trees for SageMaker's built-in container (stacks/sagemaker.py)
        tarball = None if args.out is None else args.out.with_suffix(".tar.gz")  # --out: beside it, not the repo's
        print(f"wrote {train_xgb.write_sagemaker_artifact(booster, version, tarball)}")
    return 0


def _main_from_export(args: argparse.Namespace) -> int:
    """Train on an export; never overwrites a model file already there (the bundled ones included)."""
    if args.model != "lr" or args.check or args.evaluate or args.count or args.seed:
        print("--from-export trains the logistic model only; drop --model/--check/--evaluate/--count/--seed",
              file=sys.stderr)  # fmt: skip
        return 2
    if not args.version:
        print("--from-export needs --version (e.g. lr-v2): the file is named after it", file=sys.stderr)
        return 2
    out = args.out or MODELS_DIR / f"{args.version}.json"
    if out.exists():
        print(f"{out} exists; choose a new --version or --out (model files are never overwritten)", file=sys.stderr)
        return 2
    try:
        text = render(train_from_export(args.from_export, args.version))
    except (OSError, ExportError) as exc:
        print(f"cannot train: {exc}", file=sys.stderr)
        return 2
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
