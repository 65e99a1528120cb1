"""A scorer that asks a SageMaker endpoint, one InvokeEndpoint call per batch.

The endpoint runs SageMaker's built-in XGBoost container with the bundled model's artifact, so the
request is what that container reads: ``text/csv``, one row per event, no header, the features of
:data:`risk.score.vector.FEATURE_NAMES` in order (a missing value is an empty field). The answer
(``Accept: text/csv``) is one probability per row, separated by newlines or commas.

Decision: if the endpoint fails (error, timeout, malformed answer) the batch is scored by the
bundled model, with the reason ``SCORER_FALLBACK`` and that model's version, so an endpoint outage
degrades scoring instead of stopping the pipeline; ``fallback_events`` counts them for the
``ScorerFallbacks`` metric. Without a fallback the error propagates and SQS retries the batch.
Contributions: none (``Score.contributions`` None, NULL in the warehouse): the endpoint returns a
probability alone, and the rules' codes beside it are not terms of that probability. A batch
scored by the fallback carries the fallback's contributions, ``SCORER_FALLBACK`` with none.
The client has short timeouts (:data:`CONNECT_TIMEOUT_S`, :data:`READ_TIMEOUT_S`): a hung endpoint
costs at most ``risk.common.aws.worst_case_call_s`` of them, well below the function's timeout.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from risk.events.model import RiskEvent
from risk.score.model import Features, Score
from risk.score.scorers.base import Scorer, Thresholds, dedupe, dedupe_reasons
from risk.score.scorers.rules import fired_rules
from risk.score.vector import missing_reasons, vectorize

FALLBACK_REASON = "SCORER_FALLBACK"
CONTENT_TYPE = "text/csv"
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 4.0  # a serverless endpoint's cold start fits; 3 attempts stay far below 60 s
log = logging.getLogger(__name__)


class EndpointResponseError(ValueError):
    """The endpoint answered something that is not one probability per instance."""


def csv_rows(rows: Sequence[Sequence[float]]) -> bytes:
    """Rows as the built-in XGBoost container reads them: ``repr`` floats, NaN as an empty field."""
    return "\n".join(",".join("" if math.isnan(v) else repr(v) for v in row) for row in rows).encode()


def parse_predictions(body: bytes, expected: int) -> list[float]:
    """One probability per row from a CSV answer (newline- or comma-separated)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise EndpointResponseError(f"response is not CSV text: {exc}") from exc
    fields = [f.strip() for f in text.replace("\n", ",").split(",") if f.strip()]
    if len(fields) != expected:
        raise EndpointResponseError(f"expected {expected} predictions, got {len(fields)}")
    out = []
    for field in fields:
        try:
            value = float(field)
        except ValueError as exc:
            raise EndpointResponseError(f"prediction {field[:40]!r} is not a number") from exc
        if not 0.0 <= value <= 1.0:
            raise EndpointResponseError(f"prediction {value!r} is not a probability")
        out.append(value)
    return out


class SageMakerScorer:
    def __init__(
        self, client: Any, endpoint: str, thresholds: Thresholds | None = None, fallback: Scorer | None = None
    ) -> None:
        self._client = client
        self.endpoint = endpoint
        self.thresholds = thresholds or Thresholds()
        self.fallback = fallback
        self.model_version = f"sagemaker:{endpoint}"
        self.fallback_events = 0  # scored by the fallback since the handler last read it

    def take_fallbacks(self) -> int:
        """Events scored by the fallback since the last call (the handler's ``ScorerFallbacks``)."""
        n, self.fallback_events = self.fallback_events, 0
        return n

    def score(self, event: RiskEvent, features: Features) -> Score:
        return self.score_batch([event], [features])[0]

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        if not events:
            return []
        body = csv_rows([vectorize(e, f) for e, f in zip(events, features, strict=True)])
        try:
            resp = self._client.invoke_endpoint(
                EndpointName=self.endpoint, ContentType=CONTENT_TYPE, Accept=CONTENT_TYPE, Body=body
            )
            probs = parse_predictions(resp["Body"].read(), len(events))
        except (ClientError, BotoCoreError, EndpointResponseError) as exc:
            if self.fallback is None:
                raise
            log.warning("SageMaker endpoint %s failed (%s); scoring %d events locally", self.endpoint, exc, len(events))
            self.fallback_events += len(events)
            return [_with_fallback_reason(s) for s in self.fallback.score_batch(events, features)]
        variant = resp.get("InvokedProductionVariant")
        model_version = f"sagemaker:{self.endpoint}" + (f":{variant}" if variant else "")
        return [
            Score(
                p,
                self.thresholds.band(p),
                model_version,
                dedupe([r.code for r in fired_rules(e, f)] + missing_reasons(e)),
            )
            for p, e, f in zip(probs, events, features, strict=True)
        ]


def _with_fallback_reason(s: Score) -> Score:
    """A fallback's score with ``SCORER_FALLBACK`` last (no contribution of its own)."""
    if s.contributions is None:
        return Score(s.score, s.risk_band, s.model_version, dedupe([*s.reasons, FALLBACK_REASON]))
    codes, contributions = dedupe_reasons([*zip(s.reasons, s.contributions, strict=True), (FALLBACK_REASON, None)])
    return Score(s.score, s.risk_band, s.model_version, codes, contributions)
