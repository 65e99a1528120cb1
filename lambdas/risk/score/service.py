"""One batch through the score stage, without AWS types: state round trip, then scores.

``score_events`` is what the handler, the local demo and the benchmarks call. It reads
every user of the batch at once, applies the batch in memory, writes each changed user
once (conditional on its version) and, for users another invocation changed meanwhile,
re-reads and recomputes just those users, a bounded number of times.

``score_isolating`` is what the handler calls: the same, except that an event that makes the
batch fail for a reason of its own (not the state store, not a conflict) is found by bisection
and set aside, so its message's other events go on. Re-running part of a batch is safe: the
state recognises events already applied and recomputes the same features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from risk.events.model import RiskEvent
from risk.score.layout import MissingChunkError
from risk.score.model import Features, ScoredEvent
from risk.score.scorers.base import Scorer
from risk.score.state import MissingIdsError, apply_batch
from risk.score.store import StateStore

MAX_CONFLICT_ROUNDS = 3


class StateConflictError(RuntimeError):
    """A user's state kept changing under us: fail the batch, SQS redelivers it later."""


@dataclass(frozen=True)
class ScoredBatch:
    scored: list[ScoredEvent]  # aligned with the input events
    duplicates: int  # events already in state (redeliveries): forwarded, not counted again
    writes: int
    conflicts: int


def update_state(store: StateStore, events: Sequence[RiskEvent]) -> tuple[list[Features], list[bool], int, int]:
    """Features and duplicate flags per event, after the state is durably written."""
    probes: dict[str, list[float]] = {}
    for e in events:
        probes.setdefault(e.user_id, []).append(e.occurred_at.timestamp())
    result = apply_batch(store.load(probes, probes), events, owned=True)
    features = list(result.features)
    dups = list(result.duplicates)
    pending = result.states
    writes = conflicts = 0
    for _ in range(MAX_CONFLICT_ROUNDS):
        lost = []
        for uid, st in pending.items():
            if store.save(st):
                writes += 1
            else:
                lost.append(uid)
        if not lost:
            return features, dups, writes, conflicts
        conflicts += len(lost)
        lost_set = set(lost)
        idx = [k for k, e in enumerate(events) if e.user_id in lost_set]
        redo = apply_batch(store.load(lost_set, probes), [events[k] for k in idx], owned=True)
        for j, k in enumerate(idx):
            features[k] = redo.features[j]
            dups[k] = redo.duplicates[j]
        pending = redo.states
    raise StateConflictError(f"state of {len(pending)} users still conflicting after {MAX_CONFLICT_ROUNDS} rounds")


def score_events(store: StateStore, scorer: Scorer, events: Sequence[RiskEvent]) -> ScoredBatch:
    if not events:
        return ScoredBatch([], 0, 0, 0)
    features, dups, writes, conflicts = update_state(store, events)
    scores = scorer.score_batch(events, features)
    scored = [ScoredEvent(e, f, s) for e, f, s in zip(events, features, scores, strict=True)]
    return ScoredBatch(scored, sum(dups), writes, conflicts)


# Failures of the infrastructure, not of one event: the whole batch goes back to the queue.
INFRASTRUCTURE_ERRORS = (StateConflictError, MissingChunkError, MissingIdsError, BotoCoreError, ClientError)


@dataclass
class IsolatedBatch:
    scored: list[ScoredEvent | None]  # aligned with the input events; None where the event failed
    failures: dict[int, str] = field(default_factory=dict)  # input index -> what went wrong
    duplicates: int = 0
    writes: int = 0
    conflicts: int = 0


def score_isolating(store: StateStore, scorer: Scorer, events: Sequence[RiskEvent]) -> IsolatedBatch:
    """:func:`score_events`, with an event that fails on its own set aside (bisection: log2(n) extra rounds
    per bad event). Infrastructure errors (``INFRASTRUCTURE_ERRORS``) still raise."""
    try:
        batch = score_events(store, scorer, events)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:
        if len(events) == 1:
            return IsolatedBatch([None], {0: f"{type(exc).__name__}: {exc}"[:200]})
        mid = len(events) // 2
        left = score_isolating(store, scorer, events[:mid])
        right = score_isolating(store, scorer, events[mid:])
        return IsolatedBatch(
            left.scored + right.scored,
            {**left.failures, **{mid + i: why for i, why in right.failures.items()}},
            left.duplicates + right.duplicates,
            left.writes + right.writes,
            left.conflicts + right.conflicts,
        )
    return IsolatedBatch(list(batch.scored), {}, batch.duplicates, batch.writes, batch.conflicts)


def check_finite(item: dict[str, Any]) -> None:
    """Raise ValueError if a feature or the score of a scored event's wire form is NaN or infinite:
    orjson would send it as null, and the warehouse refuses non-finite doubles for a whole load batch."""
    for value in (*item["features"].values(), item["score"]["score"]):
        if type(value) is float and not math.isfinite(value):
            raise ValueError(f"a feature or the score is not finite: {value!r}")
