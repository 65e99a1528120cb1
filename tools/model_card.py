"""The honest evaluation behind docs/model-card.md (``python -m tools.train_model --evaluate``).

Scores come from the serving scorers (``TreeScorer``, ``LogisticScorer``) on the held-out split of
``tools.train_xgb`` (users never trained on, hours after the training cut), not from xgboost: the
figures are what the function would do. Legitimate high-volume accounts are also scored alone, as
issue 15 describes them (a steady client every few seconds for hours).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from risk.score.scorers.logistic import MODELS_DIR, LogisticModel, LogisticScorer
from risk.score.scorers.trees import TreeModel, TreeScorer
from risk.score.state import replay
from tools import train_xgb
from tools.generator import HIGH_VOLUME, NORMAL, high_volume_account

ALERT_RATES = (0.01, 0.02, 0.05)
HIGH_BAND = 0.7
TARGETS = {
    "auc": 0.95,
    "precision_at_2pct": 0.95,
    "r_precision": 0.90,
    "pattern_recall": 0.80,
    "high_volume_high": 0.02,
}
# (events, seconds between them, api channel): issue 15's client is 6,000 every 7 s for 12 hours.
HIGH_VOLUME_ACCOUNTS = ((6_000, 7.0, True), (6_000, 3.0, True), (4_000, 12.0, False), (3_000, 5.0, False))
CARD = Path(__file__).resolve().parent.parent / "docs" / "model-card.md"


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from tools.train_model import auc as _auc  # noqa: PLC0415 (one AUC for both models)

    return _auc(scores, labels)


def precision_at(scores: np.ndarray, labels: np.ndarray, rate: float) -> tuple[float, float]:
    """(precision, threshold) when alerting on the top ``rate`` of events."""
    k = max(1, round(rate * len(scores)))
    order = np.argsort(-scores, kind="stable")[:k]
    return float(labels[order].mean()), float(scores[order[-1]])


@dataclass
class Evaluation:
    name: str
    auc: float
    precision: dict[float, float]  # alert rate -> precision
    thresholds: dict[float, float]
    r_precision: float
    r_threshold: float
    recall: dict[str, dict[str, float]]  # pattern -> {"r": ..., "2%": ..., "high": ...}
    calibration: list[tuple[float, float, int, float, float]]  # lo, hi, n, mean predicted, observed
    brier: float
    high_volume_rates: dict[str, float]  # high-volume pattern in the split: share in the high band


def evaluate(name: str, scores: np.ndarray, labels: np.ndarray, patterns: np.ndarray) -> Evaluation:
    n_pos = int(labels.sum())
    r_prec, r_thr = precision_at(scores, labels, n_pos / len(scores))
    precision, thresholds = {}, {}
    for rate in ALERT_RATES:
        precision[rate], thresholds[rate] = precision_at(scores, labels, rate)
    recall = {}
    for p in sorted(set(patterns.tolist()) - {NORMAL}):
        mask = patterns == p
        recall[p] = {
            "events": float(mask.sum()),
            "r": float((scores[mask] >= r_thr).mean()),
            "2%": float((scores[mask] >= thresholds[0.02]).mean()),
            "high": float((scores[mask] >= HIGH_BAND).mean()),
        }
    edges = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0001)
    calibration = []
    for lo, hi in itertools.pairwise(edges):
        mask = (scores >= lo) & (scores < hi)
        if mask.any():
            calibration.append(
                (lo, min(hi, 1.0), int(mask.sum()), float(scores[mask].mean()), float(labels[mask].mean()))
            )
    return Evaluation(
        name,
        auc(scores, labels),
        precision,
        thresholds,
        r_prec,
        r_thr,
        recall,
        calibration,
        float(np.mean((scores - labels) ** 2)),
        {},
    )


def _cpu_us(fn: Any, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best / n * 1e6


def card(xgb_file: str = "xgb-v2.json", lr_file: str = "lr-v1.json") -> str:
    """The model card's markdown, from a real run."""
    tree_model = TreeModel.load(xgb_file)
    xgb_scorer = TreeScorer(tree_model)
    lr_scorer = LogisticScorer(LogisticModel.load(lr_file))
    training = tree_model.training
    split = train_xgb.build_split(int(training["events"]), int(training["seed"]))
    idx = np.flatnonzero(split.test)
    events = [split.events[i] for i in idx]
    feats = [split.features[i] for i in idx]
    labels, patterns = split.y[idx], split.patterns[idx]
    xs = np.array([s.score for s in xgb_scorer.score_batch(events, feats)])
    ls = np.array([s.score for s in lr_scorer.score_batch(events, feats)])
    ev = {"xgb": evaluate(tree_model.model_version, xs, labels, patterns)}
    ev["lr"] = evaluate(lr_scorer.model_version, ls, labels, patterns)

    # Legitimate high-volume accounts alone (their events are the user's whole stream).
    hv_rows = []
    for k, (count, interval, api) in enumerate(HIGH_VOLUME_ACCOUNTS):
        generated = high_volume_account(count, seed=1_000 + k, interval_s=interval, api=api)
        hv_events = [g.as_risk_event() for g in generated]
        hv_feats, _ = replay(hv_events)
        shares = []
        for scorer in (xgb_scorer, lr_scorer):
            sc = np.array([s.score for s in scorer.score_batch(hv_events, hv_feats)])
            shares.append(float((sc >= HIGH_BAND).mean()))
        hv_rows.append((count, interval, "api" if api else "web", shares[0], shares[1]))

    # Importance: mean |contribution| (Saabas) over the held-out events, from the serving evaluator.
    rows = xgb_scorer.rows(events, feats)
    contrib = np.array([xgb_scorer.evaluator.explain(x)[1] for x in rows])
    importance = np.abs(contrib).mean(axis=0)
    importance = importance / importance.sum()
    order = np.argsort(-importance, kind="stable")

    n = len(events)
    cost = {
        "xgb, score and reasons": _cpu_us(lambda: xgb_scorer.score_batch(events, feats), n),
        "xgb, score alone (a shadow)": _cpu_us(lambda: xgb_scorer.probabilities(events, feats), n),
        "lr, score and reasons": _cpu_us(lambda: lr_scorer.score_batch(events, feats), n),
    }
    path = MODELS_DIR / xgb_file
    nodes = sum(len(t.split) for t in tree_model.trees)
    return _render(
        ev=ev,
        hv_rows=hv_rows,
        model=tree_model,
        training=training,
        importance=importance,
        order=order,
        cost=cost,
        size=path.stat().st_size,
        nodes=nodes,
        n=n,
    )


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _render(
    *,
    ev: dict[str, Evaluation],
    hv_rows: Sequence[tuple[int, float, str, float, float]],
    model: TreeModel,
    training: dict[str, Any],
    importance: np.ndarray,
    order: np.ndarray,
    cost: dict[str, float],
    size: int,
    nodes: int,
    n: int,
) -> str:
    x, lr = ev["xgb"], ev["lr"]
    worst_hv = max(r[3] for r in hv_rows)
    patterns = [p for p in x.recall if p != HIGH_VOLUME]
    min_recall = min(x.recall[p]["r"] for p in patterns)
    out = [
        "# Model card: " + model.model_version,
        "",
        "Written by `python -m tools.train_model --evaluate` (tools/model_card.py) from a real run: the",
        "checked-in model files scored by the function's own scorers on held-out data. Do not edit by hand.",
        "",
        "## Data and split",
        "",
        f"* {training['events']:,} events from `tools/generator.py` (seed {training['seed']}, "
        f"{training['days']} simulated days, ~5 % fraud in six patterns, "
        f"{training['high_volume_share']:.0%} from legitimate high-volume accounts).",
        f"* Split {training['split']}: {training['train_events']:,} training events, {n:,} held-out events "
        f"({int(sum(r['events'] for p, r in x.recall.items() if p != HIGH_VOLUME)):,} fraudulent).",
        f"* Training also sees a second generator run (seed {training['extra_seed']}, the same size): the events of "
        "its users that the split would not hold out, all hours.",
        f"* XGBoost {training['xgboost']}, {training['rounds']} trees, parameters `{training['params']}`.",
        f"* How features and parameters were chosen: on a third run (seed {training['validation_seed']}, its events "
        "after 60 % of the period), never on the held-out set. There, xgb-v1 -> xgb-v2 (adding "
        "`log_seconds_since_last` and the second training run; xgb-v1's parameters, since 300 trees at eta 0.1 or "
        "400 of depth 5 at 0.05 did no better there, at 2-3x the CPU) took recall at R-precision from 0.82 to 0.84 "
        "for velocity bursts and from 0.68 to 0.74 for spend ramp-ups. Candidate ramp features computed from the "
        "state (a run of increasing "
        "above-mean amounts in the hour, the ratio to the previous amount, the log-excess spend of the hour's "
        "elevated events, the time since the last one) added about 0.01 there and were left out: they would need "
        "new `Features` fields and warehouse columns.",
        f"* Baseline: `{lr.name}` (logistic regression on the 20 features before issue 15) on the same events.",
        "",
        "## Targets (issue 15), held-out",
        "",
        f"| figure | {x.name} | {lr.name} | target | {x.name} |",
        "|---|---:|---:|---|---|",
        f"| AUC | {x.auc:.4f} | {lr.auc:.4f} | >= {TARGETS['auc']} | {_met(x.auc >= TARGETS['auc'])} |",
    ]
    for rate in ALERT_RATES:
        target = f">= {TARGETS['precision_at_2pct']}" if rate == 0.02 else ""
        met = _met(x.precision[rate] >= TARGETS["precision_at_2pct"]) if rate == 0.02 else ""
        out.append(
            f"| precision alerting on the top {rate:.0%} | {x.precision[rate]:.3f} | {lr.precision[rate]:.3f} "
            f"| {target} | {met} |"
        )
    out += [
        f"| R-precision (alerting on as many events as there are frauds) | {x.r_precision:.3f} | {lr.r_precision:.3f} "
        f"| >= {TARGETS['r_precision']} | {_met(x.r_precision >= TARGETS['r_precision'])} |",
        f"| lowest recall of a pattern at that threshold | {min_recall:.3f} | "
        f"{min(lr.recall[p]['r'] for p in patterns):.3f} | >= {TARGETS['pattern_recall']} each | "
        f"{_met(min_recall >= TARGETS['pattern_recall'])} |",
        f"| high-volume account's events in the high band (worst of {len(hv_rows)}) | {worst_hv:.2%} | "
        f"{max(r[4] for r in hv_rows):.2%} | <= {TARGETS['high_volume_high']:.0%} "
        f"| {_met(worst_hv <= TARGETS['high_volume_high'])} |",
        f"| Brier score | {x.brier:.4f} | {lr.brier:.4f} | | |",
        "",
        f"## Recall per pattern (held-out events; R-precision threshold {x.r_threshold:.3f} for {x.name}, "
        f"{lr.r_threshold:.3f} for {lr.name})",
        "",
        f"| pattern | events | {x.name} at R-precision | at top 2 % | in the high band (>= {HIGH_BAND}) | "
        f"{lr.name} at R-precision | in the high band |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p, r in x.recall.items():
        q = lr.recall[p]
        label = f"{p} (legitimate: share flagged)" if p == HIGH_VOLUME else p
        out.append(
            f"| {label} | {int(r['events'])} | {r['r']:.3f} | {r['2%']:.3f} | {r['high']:.3f} "
            f"| {q['r']:.3f} | {q['high']:.3f} |"
        )
    out += [
        "",
        "The missed part is mostly the first events of an incident: the first one or two orders of a spend",
        "ramp-up (1.2-3x the user's usual) or payments of a velocity burst look like the user's ordinary",
        "traffic until the next ones arrive; every event of an incident is labelled fraud. On the validation",
        "run, xgb-v2 caught a ramp-up's first order (a fifth of its events) 6 % of the time and the later ones",
        "90 %; a burst's first payment (11 %) 3 % and the later ones 94 %. 0.80 for ramp-ups needs nearly every",
        "later order, which these features do not reach.",
        "",
        "## Legitimate high-volume accounts, scored alone",
        "",
        f"| events | every (s, about) | channel | {x.name}: share in the high band | {lr.name} |",
        "|---:|---:|---|---:|---:|",
    ]
    out += [f"| {c:,} | {i:g} | {ch} | {a:.2%} | {b:.2%} |" for c, i, ch, a, b in hv_rows]
    out += [
        "",
        "## Calibration (held-out, " + x.name + ")",
        "",
        "| score range | events | mean score | fraud rate |",
        "|---|---:|---:|---:|",
    ]
    out += [f"| {lo:.2f}-{hi:.2f} | {k:,} | {m:.3f} | {o:.3f} |" for lo, hi, k, m, o in x.calibration]
    out += [
        "",
        "## Feature importance (" + x.name + ": share of mean |contribution| over the held-out events)",
        "",
        "| feature | share |",
        "|---|---:|",
    ]
    out += [f"| `{model.features[k]}` | {importance[k]:.1%} |" for k in order[:15]]
    out += [
        "",
        "## Size and cost",
        "",
        f"* `{model.model_version}.json`: {size / 1024:.0f} KiB, {len(model.trees)} trees, {nodes:,} nodes; no",
        "  dependency in the layer (pure Python evaluator, `risk/score/scorers/trees.py`).",
        "* CPU per event on this shared 2-core machine (best of 3 over the held-out events, vector included):",
        "",
        "| scoring | us per event |",
        "|---|---:|",
    ]
    out += [f"| {k} | {v:.0f} |" for k, v in cost.items()]
    return "\n".join(out) + "\n"
