"""Shadow scorers: bundled models that score the same features as the champion, for comparison only.

``SHADOW_SCORERS`` (built from ``cdk.json`` -> ``scoring.shadows`` by ``stacks.config``) lists
``kind:model_file`` pairs (kind ``logistic`` or ``xgboost``). A shadow's score and model version
travel with the scored event and are stored in ``risk_events.shadow_scores``; the champion alone
decides the band, the reasons and the alerts. A shadow that fails leaves the batch without shadow
scores (logged): comparing models must never stop scoring.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from risk.common import settings
from risk.events.model import RiskEvent
from risk.score.model import Features, ScoredEvent, ShadowScore
from risk.score.scorers.logistic import LogisticScorer
from risk.score.scorers.trees import TreeScorer

SHADOW_KINDS = ("logistic", "xgboost")
log = logging.getLogger(__name__)


class ShadowScorer:
    """Scores alone (no reasons) from a bundled model."""

    def __init__(self, scorer: LogisticScorer | TreeScorer) -> None:
        self._scorer = scorer
        self.model_version = scorer.model_version
        self.thresholds = scorer.thresholds

    def scores(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[ShadowScore]:
        if isinstance(self._scorer, TreeScorer):
            probs = self._scorer.probabilities(events, features)
        else:
            probs = [s.score for s in self._scorer.score_batch(events, features)]
        return [ShadowScore(self.model_version, p, self.thresholds.band(p)) for p in probs]


def parse_shadows(value: str) -> list[tuple[str, str]]:
    """``"xgboost:xgb-v1.json,logistic:lr-v1.json"`` -> [(kind, model_file), ...]."""
    out = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        kind, sep, model_file = item.partition(":")
        if not sep or kind not in SHADOW_KINDS or not model_file:
            raise ValueError(f"{settings.SHADOW_SCORERS}: {item!r} is not kind:model_file with kind in {SHADOW_KINDS}")
        out.append((kind, model_file))
    return out


def load_shadows(environ: Mapping[str, str] | None = None) -> tuple[ShadowScorer, ...]:
    """The shadows the settings name (none when ``SHADOW_SCORERS`` is unset or empty)."""
    from risk.score.scorers import load_scorer  # noqa: PLC0415 (the package imports this module)

    env = os.environ if environ is None else environ
    thresholds = {
        settings.MEDIUM_THRESHOLD: env.get(settings.MEDIUM_THRESHOLD) or "0.3",
        settings.HIGH_THRESHOLD: env.get(settings.HIGH_THRESHOLD) or "0.7",
    }
    out = []
    for kind, model_file in parse_shadows(env.get(settings.SHADOW_SCORERS) or ""):
        scorer = load_scorer({settings.SCORER: kind, settings.MODEL_FILE: model_file, **thresholds})
        assert isinstance(scorer, LogisticScorer | TreeScorer)
        out.append(ShadowScorer(scorer))
    return tuple(out)


def with_shadows(shadows: Sequence[ShadowScorer], scored: Sequence[ScoredEvent | None]) -> list[ScoredEvent | None]:
    """The scored events with every shadow's score attached (unchanged if there are none or one fails)."""
    present = [s for s in scored if s is not None]
    if not shadows or not present:
        return list(scored)
    events = [s.event for s in present]
    features = [s.features for s in present]
    try:
        per_model = [shadow.scores(events, features) for shadow in shadows]
    except Exception:
        log.exception("a shadow scorer failed: this batch carries no shadow scores")
        return list(scored)
    attached = iter(
        replace(s, shadows=tuple(scores)) for s, scores in zip(present, zip(*per_model, strict=True), strict=True)
    )
    return [None if s is None else next(attached) for s in scored]
