"""The scorer interface and what every scorer shares: bands and batch scoring."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from risk.events.model import RiskEvent
from risk.score.model import Features, Score


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Band edges: ``score >= high`` is high, ``score >= medium`` is medium, else low."""

    medium: float = 0.3
    high: float = 0.7

    def __post_init__(self) -> None:
        if not 0.0 <= self.medium < self.high <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= medium < high <= 1, got {self.medium}, {self.high}")

    def band(self, score: float) -> str:
        if score >= self.high:
            return "high"
        if score >= self.medium:
            return "medium"
        return "low"


class Scorer(Protocol):
    model_version: str

    def score(self, event: RiskEvent, features: Features) -> Score: ...

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        """All scores of a batch: one remote call for remote scorers."""
        ...


def dedupe(codes: list[str]) -> tuple[str, ...]:
    """Keep the first occurrence of each reason code, in order."""
    return tuple(dict.fromkeys(codes))


Contribution = float | None


def dedupe_reasons(pairs: Iterable[tuple[str, Contribution]]) -> tuple[tuple[str, ...], tuple[Contribution, ...]]:
    """Codes and their contributions, keeping the first occurrence of each code, in order."""
    kept: dict[str, Contribution] = {}
    for code, contribution in pairs:
        if code not in kept:
            kept[code] = contribution
    return tuple(kept), tuple(kept.values())


def best_by_code(codes: Sequence[str], contrib: Sequence[float]) -> dict[str, float]:
    """Each feature code's contribution: the largest of its features' (only HOUR_OF_DAY has two, sin and
    cos), which is the one the reason picker ranked it by."""
    out: dict[str, float] = {}
    for code, value in zip(codes, contrib, strict=True):
        if code not in out or value > out[code]:
            out[code] = value
    return out
