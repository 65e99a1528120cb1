"""A scorer that asks a SageMaker endpoint, one InvokeEndpoint call per batch.

Request: ``{"features": [names...], "instances": [[floats...], ...]}`` (JSON).
Response: a JSON list of probabilities, or ``{"predictions": [...], "model_version": "..."}``
where each prediction is a number or ``{"score": number}``.

Decision: if the endpoint fails (error, timeout, malformed answer) the batch is scored
by the bundled logistic model, with the reason ``SCORER_FALLBACK`` and that model's
version, so an endpoint outage degrades scoring instead of stopping the pipeline.
Without a fallback the error propagates and SQS retries the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from risk.events.model import RiskEvent
from risk.score.model import Features, Score
from risk.score.scorers.base import Scorer, Thresholds, dedupe
from risk.score.scorers.rules import fired_rules
from risk.score.vector import FEATURE_NAMES, missing_reasons, vectorize

FALLBACK_REASON = "SCORER_FALLBACK"
log = logging.getLogger(__name__)


class EndpointResponseError(ValueError):
    """The endpoint answered something that is not one probability per instance."""


def parse_predictions(body: bytes, expected: int) -> tuple[list[float], str | None]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EndpointResponseError(f"response is not JSON: {exc}") from exc
    version = None
    if isinstance(doc, dict):
        version = doc.get("model_version")
        doc = doc.get("predictions")
    if not isinstance(doc, list) or len(doc) != expected:
        raise EndpointResponseError(f"expected {expected} predictions")
    out = []
    for item in doc:
        value = item.get("score") if isinstance(item, dict) else item
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise EndpointResponseError(f"prediction {value!r} is not a probability")
        out.append(float(value))
    return out, None if version is None else str(version)


class SageMakerScorer:
    def __init__(
        self, client: Any, endpoint: str, thresholds: Thresholds | None = None, fallback: Scorer | None = None
    ) -> None:
        self._client = client
        self.endpoint = endpoint
        self.thresholds = thresholds or Thresholds()
        self.fallback = fallback
        self.model_version = f"sagemaker:{endpoint}"

    def score(self, event: RiskEvent, features: Features) -> Score:
        return self.score_batch([event], [features])[0]

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        if not events:
            return []
        body = orjson.dumps(
            {"features": FEATURE_NAMES, "instances": [vectorize(e, f) for e, f in zip(events, features, strict=True)]}
        )
        try:
            resp = self._client.invoke_endpoint(
                EndpointName=self.endpoint, ContentType="application/json", Accept="application/json", Body=body
            )
            probs, version = parse_predictions(resp["Body"].read(), len(events))
        except (ClientError, BotoCoreError, EndpointResponseError) as exc:
            if self.fallback is None:
                raise
            log.warning("SageMaker endpoint %s failed (%s); scoring %d events locally", self.endpoint, exc, len(events))
            return [
                Score(s.score, s.risk_band, s.model_version, dedupe([*s.reasons, FALLBACK_REASON]))
                for s in self.fallback.score_batch(events, features)
            ]
        model_version = f"sagemaker:{self.endpoint}" + (f":{version}" if version else "")
        return [
            Score(
                p,
                self.thresholds.band(p),
                model_version,
                dedupe([r.code for r in fired_rules(e, f)] + missing_reasons(e)),
            )
            for p, e, f in zip(probs, events, features, strict=True)
        ]
