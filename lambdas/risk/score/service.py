"""One batch through the score stage, without AWS types: state round trip, then scores.

``score_events`` is what the handler, the local demo and the benchmarks call. It reads
every user of the batch at once, applies the batch in memory, writes each changed user
once (conditional on its version) and, for users another invocation changed meanwhile,
re-reads and recomputes just those users, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from risk.events.model import RiskEvent
from risk.score.model import Features, ScoredEvent
from risk.score.scorers.base import Scorer
from risk.score.state import apply_batch
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
    result = apply_batch(store.load({e.user_id for e in events}), events, owned=True)
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
        redo = apply_batch(store.load(lost_set), [events[k] for k in idx], owned=True)
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
