"""Champion vs shadows: the counts the score stage emits so the dashboard can compare models.

Plain functions over scored events (no metrics library): the handler turns each count into one
metric value of ``risk.common.telemetry`` (``ShadowBands``, ``ScoresByBucket``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from risk.common import telemetry
from risk.score.model import ScoredEvent

BandPair = tuple[str, str, str]  # (shadow model_version, champion band, shadow band)
Bucket = tuple[str, str, str]  # (model_version, role, score bucket)


def band_pairs(scored: Iterable[ScoredEvent]) -> Counter[BandPair]:
    """Events per shadow version and (champion band, shadow band): agreement is where the bands are equal."""
    return Counter((s.model_version, e.score.risk_band, s.risk_band) for e in scored for s in e.shadows)


def score_buckets(scored: Iterable[ScoredEvent]) -> Counter[Bucket]:
    """Events per model version, role and score bucket: the champion's score and every shadow's."""
    out: Counter[Bucket] = Counter()
    for e in scored:
        out[(e.score.model_version, telemetry.ROLE_CHAMPION, telemetry.score_bucket(e.score.score))] += 1
        for s in e.shadows:
            out[(s.model_version, telemetry.ROLE_SHADOW, telemetry.score_bucket(s.score))] += 1
    return out
