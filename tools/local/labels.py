"""``make demo``'s outcome labels: the generator's own fraud labels, loaded as an analyst would.

Every generated event of a fraud incident gets ``fraud`` from a ``chargeback`` three days after it
occurred; every other event ``legit`` from an ``analyst`` review. Each label names its user, so a
label on an event that did not load (a DLQ) is still accepted, as in production. The demo then
prints ``v_precision_recall_weekly``: the figures the labels make possible.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from risk.warehouse.connection import Warehouse
from risk.warehouse.labels import Label, LabelLoad, load_labels

REPORTED_AFTER = timedelta(days=3)


def sample_labels(count: int, seed: int) -> list[Label]:
    """The labels of ``generate(count, seed)``'s events (the same events the demo sent)."""
    from tools.generator import generate  # noqa: PLC0415 (the generator is only needed here)

    labels = []
    for g in generate(count, seed=seed):
        occurred = datetime.fromtimestamp(g.ts, UTC)
        fraud = g.label == 1
        labels.append(
            Label(
                str(g.event["event_id"]),
                str(g.event["user_id"]),
                "fraud" if fraud else "legit",
                "chargeback" if fraud else "analyst",
                occurred + REPORTED_AFTER,
                g.pattern if fraud else None,
            )
        )
    return labels


def precision_recall(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """Rows of v_precision_recall_weekly, newest week first, bands from high to low."""
    with warehouse.transaction():
        rows = warehouse.fetchall(
            "SELECT week, model_version, risk_band, labelled_events, fraud_events, precision_at_or_above, "
            "recall_at_or_above FROM v_precision_recall_weekly ORDER BY week DESC, model_version, band_rank DESC"
        )
    return [tuple(row) for row in rows]


def outcomes_report(warehouse: Warehouse, labels: list[Label], out: TextIO) -> LabelLoad:
    """Load the labels, then print precision and recall at or above each band."""
    loaded = load_labels(warehouse, labels)
    w = out.write
    w(f"\n== outcomes: {loaded.given} sample labels loaded into risk_labels ({loaded.inserted} new)\n")
    w("  week        model version         band    labelled  fraud  precision>=band  recall>=band\n")
    for week, model, band, labelled, fraud, precision, recall in precision_recall(warehouse):
        p = "-" if precision is None else f"{float(precision):.2f}"
        r = "-" if recall is None else f"{float(recall):.2f}"
        w(f"  {week:%Y-%m-%d}  {model!s:20}  {band!s:6}  {labelled:8}  {fraud:5}  {p:>15}  {r:>12}\n")
    return loaded
