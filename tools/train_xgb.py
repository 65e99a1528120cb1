"""Train the XGBoost scorer reproducibly and export its trees for the function (``tools/train_model.py``
drives it: ``python -m tools.train_model --model xgb``).

Data: ``tools.generator`` with a fixed seed over two simulated days, every fraud pattern and
legitimate high-volume accounts; features through the serving code (``replay``, ``vectorize``).
Split **by user and by time**: one user in three is held out, and of those only the events after
60 % of the period are evaluated; training sees the other users' events before that cut. So the
held-out figures are on users and hours the model never saw. Training also sees a second generator
run (``EXTRA_SEED``, the same size; its users that the split would not hold out, all hours): more
incidents to learn from; an independent run, so none of its events is a held-out user's. Features and
parameters were chosen on a third run (``VALIDATION_SEED``, its events after 60 % of the period), never
on the held-out set. xgboost (and numpy) are dev-only: the function evaluates the exported trees in
pure Python (``risk.score.scorers.trees``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from risk.events.model import RiskEvent
from risk.score.model import Features
from risk.score.scorers.trees import KIND
from risk.score.state import replay
from risk.score.vector import FEATURE_NAMES, vectorize
from stacks.config import SAGEMAKER_ARTIFACTS, SAGEMAKER_MODEL_MEMBER
from tools.generator import DAY_S, GeneratedEvent, generate

VERSION = "xgb-v2"
COUNT = 200_000
SEED = 20261130
EXTRA_SEED = 20261202  # a second run of training users (see the module docstring)
VALIDATION_SEED = 20261201  # where features and parameters were chosen (tools/model_card.py says how)
DAYS = 2
HIGH_VOLUME_SHARE = 0.04
TEST_USERS = 3  # one user in three is held out
TIME_CUT = 0.6  # ... and evaluated after 60 % of the period
ROUNDS = 150
PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.15,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 2.0,
    "lambda": 1.0,
    "nthread": 1,  # the same trees on any machine
}


@dataclass
class Split:
    generated: list[GeneratedEvent]
    events: list[RiskEvent]
    features: list[Features]
    x: np.ndarray  # the full vector (FEATURE_NAMES) of every event
    y: np.ndarray
    patterns: np.ndarray
    train: np.ndarray  # boolean masks
    test: np.ndarray


def held_out(user_id: str) -> bool:
    return hashlib.blake2b(user_id.encode(), digest_size=4).digest()[0] % TEST_USERS == 0


def build_split(count: int, seed: int) -> Split:
    generated = generate(count, seed, duration_s=DAYS * DAY_S, high_volume_share=HIGH_VOLUME_SHARE)
    events = [g.as_risk_event() for g in generated]
    features, _ = replay(events)
    x = np.array([vectorize(e, f) for e, f in zip(events, features, strict=True)], dtype=np.float64)
    y = np.array([g.label for g in generated], dtype=np.float64)
    cut = generated[0].ts + TIME_CUT * (generated[-1].ts - generated[0].ts) if generated else 0.0
    users = np.array([held_out(e.user_id) for e in events], dtype=bool)
    late = np.array([g.ts >= cut for g in generated], dtype=bool)
    return Split(
        generated, events, features, x, y, np.array([g.pattern for g in generated]), ~users & ~late, users & late
    )


def fit(split: Split, seed: int, rounds: int = ROUNDS, extra: Split | None = None) -> xgb.Booster:
    """Trained on the split's training events and, if given, the training users of ``extra`` (all its hours)."""
    x, y = split.x[split.train], split.y[split.train]
    if extra is not None:
        users = ~np.array([held_out(e.user_id) for e in extra.events], dtype=bool)
        x, y = np.vstack([x, extra.x[users]]), np.concatenate([y, extra.y[users]])
    dtrain = xgb.DMatrix(x, label=y, feature_names=list(FEATURE_NAMES))
    return xgb.train({**PARAMS, "seed": seed}, dtrain, num_boost_round=rounds)


def _f32(v: float) -> float:
    """The shortest decimal that reads back as the same float32: small files, exact values."""
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def _node_means(tree: dict[str, Any]) -> list[float]:
    """Cover-weighted mean of each node's leaves, in float32 as xgboost computes them (FillNodeMeanValues)."""
    left, right, hess = tree["left_children"], tree["right_children"], tree["sum_hessian"]
    leaf = tree["split_conditions"]  # a leaf's value lives here
    means = [np.float32(0.0)] * len(left)

    def fill(n: int) -> np.float32:
        if left[n] == -1:
            means[n] = np.float32(leaf[n])
        else:
            a, b = fill(left[n]), fill(right[n])
            total = a * np.float32(hess[left[n]]) + b * np.float32(hess[right[n]])
            means[n] = np.float32(total / np.float32(hess[n]))
        return means[n]

    fill(0)
    return [float(m) for m in means]


def export(booster: xgb.Booster, version: str, training: dict[str, Any]) -> dict[str, Any]:
    """The compact file the function reads (``risk.score.scorers.trees``)."""
    raw = json.loads(booster.save_raw("json"))
    learner = raw["learner"]
    base_score = float(learner["learner_model_param"]["base_score"].strip("[]"))
    trees = []
    for t in learner["gradient_booster"]["model"]["trees"]:
        leaf = [n == -1 for n in t["left_children"]]
        means = _node_means(t)
        trees.append(
            {
                "split": [-1 if is_leaf else int(f) for f, is_leaf in zip(t["split_indices"], leaf, strict=True)],
                "threshold": [
                    0.0 if is_leaf else _f32(c) for c, is_leaf in zip(t["split_conditions"], leaf, strict=True)
                ],
                "left": t["left_children"],
                "right": t["right_children"],
                "default_left": [int(d) for d in t["default_left"]],
                "value": [_f32(m) for m in means],
            }
        )
    return {
        "model_version": version,
        "kind": KIND,
        "features": list(FEATURE_NAMES),
        "base_margin": _f32(math.log(base_score / (1.0 - base_score))),
        "trees": trees,
        "training": training,
    }


def render(doc: dict[str, Any]) -> str:
    """One line per tree: diffable, and a fraction of the size of indented JSON."""
    head = {k: v for k, v in doc.items() if k not in ("trees", "training")}
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in head.items()]
    lines.append(f'  "training": {json.dumps(doc["training"], sort_keys=True)},')
    lines.append('  "trees": [')
    trees = [json.dumps(t, separators=(",", ":")) for t in doc["trees"]]
    lines += [f"    {t}," for t in trees[:-1]] + [f"    {trees[-1]}"]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def train(count: int = COUNT, seed: int = SEED, version: str = VERSION) -> tuple[dict[str, Any], xgb.Booster, Split]:
    """The model file's content (deterministic for count and seed), the booster and the split."""
    split = build_split(count, seed)
    extra = build_split(count, EXTRA_SEED)
    booster = fit(split, seed, extra=extra)
    training = {
        "tool": "tools/train_model.py --model xgb (tools/train_xgb.py)",
        "generator": "tools/generator.py",
        "xgboost": xgb.__version__,
        "seed": seed,
        "events": count,
        "days": DAYS,
        "high_volume_share": HIGH_VOLUME_SHARE,
        "split": f"by user and time: 1 in {TEST_USERS} users held out, evaluated after {TIME_CUT:.0%} of the period",
        "extra_seed": EXTRA_SEED,
        "validation_seed": VALIDATION_SEED,
        "train_events": int(split.train.sum()) + int(sum(not held_out(e.user_id) for e in extra.events)),
        "test_events": int(split.test.sum()),
        "rounds": ROUNDS,
        "params": {k: v for k, v in PARAMS.items() if k != "nthread"},
    }
    return export(booster, version, training), booster, split


def sagemaker_artifact(booster: xgb.Booster) -> bytes:
    """model.tar.gz for SageMaker's built-in XGBoost container (pickle, else ``Booster.load_model``
    of the file; a native JSON model, feature names kept). Byte-for-byte reproducible: fixed member
    name, mode, owner and mtime, gzip mtime 0, so a retrain that changes nothing changes no bytes."""
    model = bytes(booster.save_raw("json"))
    info = tarfile.TarInfo(SAGEMAKER_MODEL_MEMBER)
    info.size, info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = len(model), 0o644, 0, 0, 0, "", ""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        tar.addfile(info, io.BytesIO(model))
    return raw.getvalue()


def write_sagemaker_artifact(booster: xgb.Booster, version: str, out: Path | None = None) -> Path:
    """Writes ``artifacts/sagemaker/<version>/model.tar.gz`` (the SageMaker stack's asset), or ``out``."""
    out = out or SAGEMAKER_ARTIFACTS / version / "model.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(sagemaker_artifact(booster))
    return out
