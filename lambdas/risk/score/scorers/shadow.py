"""Shadow scorers: bundled models that score the same features as the champion, for comparison only.

``SHADOW_SCORERS`` (built from ``cdk.json`` -> ``scoring.shadows`` by ``stacks.config``) lists
``kind:model_file`` pairs (kind ``logistic`` or ``xgboost``), or ``sagemaker:<endpoint>`` (the
endpoint stacks/sagemaker.py provisions, no fallback). A shadow's score and model version
travel with the scored event and are stored in ``risk_events.shadow_scores``; the champion alone
decides the band, the reasons and the alerts. A shadow that fails leaves the batch without its
scores (logged), the other shadows' stay: comparing models must never stop scoring.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from risk.common import aws, settings
from risk.events.model import RiskEvent
from risk.score.model import Features, ScoredEvent, ShadowScore
from risk.score.scorers.base import Thresholds
from risk.score.scorers.logistic import LogisticScorer
from risk.score.scorers.sagemaker import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, SageMakerScorer
from risk.score.scorers.trees import TreeScorer

SHADOW_KINDS = ("logistic", "xgboost", "sagemaker")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's rule for endpoint names
log = logging.getLogger(__name__)


class ShadowScorer:
    """Scores alone (no reasons) from a bundled model or an endpoint."""

    def __init__(self, scorer: LogisticScorer | TreeScorer | SageMakerScorer) -> None:
        self._scorer = scorer
        self.model_version = scorer.model_version
        self.thresholds = scorer.thresholds

    def scores(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[ShadowScore]:
        if isinstance(self._scorer, TreeScorer):
            probs = self._scorer.probabilities(events, features)
        else:  # an endpoint's version names the variant that answered
            return [
                ShadowScore(s.model_version, s.score, self.thresholds.band(s.score))
                for s in self._scorer.score_batch(events, features)
            ]
        return [ShadowScore(self.model_version, p, self.thresholds.band(p)) for p in probs]


class _RuntimeOnFirstCall:
    """The sagemaker-runtime client, made on the first call: loading the settings needs no region."""

    def __init__(self) -> None:
        self._client: Any = None

    def invoke_endpoint(self, **kwargs: Any) -> Any:
        if self._client is None:
            self._client = aws.client(
                "sagemaker-runtime", connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S
            )
        return self._client.invoke_endpoint(**kwargs)


def parse_shadows(value: str) -> list[tuple[str, str]]:
    """``"xgboost:xgb-v1.json,sagemaker:<endpoint>"`` -> [(kind, model_file or endpoint), ...]."""
    out = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        kind, sep, model_file = item.partition(":")
        bad_endpoint = kind == "sagemaker" and not ENDPOINT_NAME.match(model_file)
        if not sep or kind not in SHADOW_KINDS or not model_file or bad_endpoint:
            raise ValueError(
                f"{settings.SHADOW_SCORERS}: {item!r} is not kind:model_file with kind in {SHADOW_KINDS} "
                "(sagemaker:<endpoint name>)"
            )
        out.append((kind, model_file))
    return out


def load_shadows(environ: Mapping[str, str] | None = None, sagemaker_client: Any = None) -> tuple[ShadowScorer, ...]:
    """The shadows the settings name (none when ``SHADOW_SCORERS`` is unset or empty)."""
    from risk.score.scorers import load_scorer  # noqa: PLC0415 (the package imports this module)

    env = os.environ if environ is None else environ
    thresholds = {
        settings.MEDIUM_THRESHOLD: env.get(settings.MEDIUM_THRESHOLD) or "0.3",
        settings.HIGH_THRESHOLD: env.get(settings.HIGH_THRESHOLD) or "0.7",
    }
    out = []
    for kind, model_file in parse_shadows(env.get(settings.SHADOW_SCORERS) or ""):
        if kind == "sagemaker":  # model_file is the endpoint; no fallback: a failure drops this shadow's scores
            sagemaker_client = sagemaker_client or _RuntimeOnFirstCall()
            bands = Thresholds(float(thresholds[settings.MEDIUM_THRESHOLD]), float(thresholds[settings.HIGH_THRESHOLD]))
            out.append(ShadowScorer(SageMakerScorer(sagemaker_client, model_file, bands)))
            continue
        scorer = load_scorer({settings.SCORER: kind, settings.MODEL_FILE: model_file, **thresholds})
        assert isinstance(scorer, LogisticScorer | TreeScorer)
        out.append(ShadowScorer(scorer))
    return tuple(out)


def with_shadows(shadows: Sequence[ShadowScorer], scored: Sequence[ScoredEvent | None]) -> list[ScoredEvent | None]:
    """The scored events with every shadow's score attached (a shadow that fails is left out)."""
    return attach_shadows(shadows, scored)[0]


def attach_shadows(
    shadows: Sequence[ShadowScorer], scored: Sequence[ScoredEvent | None]
) -> tuple[list[ScoredEvent | None], int]:
    """:func:`with_shadows`, and how many events shadows failed to score (one per event and failed shadow),
    which the handler counts in ``ShadowFailures`` so that a broken shadow is seen, not only logged."""
    present = [s for s in scored if s is not None]
    if not shadows or not present:
        return list(scored), 0
    events = [s.event for s in present]
    features = [s.features for s in present]
    per_model = []
    failed = 0
    for shadow in shadows:
        try:
            per_model.append(shadow.scores(events, features))
        except Exception:
            failed += len(present)
            log.exception("shadow %s failed: this batch carries no scores of it", shadow.model_version)
    if not per_model:
        return list(scored), failed
    attached = iter(
        replace(s, shadows=tuple(scores)) for s, scores in zip(present, zip(*per_model, strict=True), strict=True)
    )
    return [None if s is None else next(attached) for s in scored], failed
