"""The metric contract: every custom metric the code emits, in one place.

Handlers emit only names defined here; the monitoring stack graphs and alarms only on
names defined here; ``tests/test_metric_contract.py`` checks both sides. Dimensions
stay low-cardinality: never a user or event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NAMESPACE = "RiskScoring"
SERVICE = "risk-scoring"
# Every metric carries these (Powertools adds ``service``; handlers set ``environment``).
BASE_DIMENSIONS = ("service", "environment")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str  # a CloudWatch unit name, as Powertools' MetricUnit spells it
    stage: str  # parse, score or load ("any": the stage is a dimension)
    extra_dimensions: tuple[str, ...] = ()
    statistic: str = "Sum"  # what dashboards and alarms read

    @property
    def dimensions(self) -> tuple[str, ...]:
        return BASE_DIMENSIONS + self.extra_dimensions


# parse
RECORDS_RECEIVED = MetricSpec("RecordsReceived", "Count", "parse")
EVENTS_PARSED = MetricSpec("EventsParsed", "Count", "parse")
EVENTS_QUARANTINED = MetricSpec("EventsQuarantined", "Count", "parse")
QUARANTINED_BY_REASON = MetricSpec("QuarantinedByReason", "Count", "parse", ("reason",))
# score
EVENTS_SCORED = MetricSpec("EventsScored", "Count", "score")
EVENTS_FLAGGED = MetricSpec("EventsFlagged", "Count", "score")
SCORED_BY_BAND = MetricSpec("ScoredByBand", "Count", "score", ("risk_band", "model_version"))
DUPLICATE_EVENTS_SKIPPED = MetricSpec("DuplicateEventsSkipped", "Count", "score")
# events the score stage set aside alone (failed to score or to encode), written to quarantine/
SCORE_EVENTS_QUARANTINED = MetricSpec("ScoreEventsQuarantined", "Count", "score")
# events scored by the bundled model because the SageMaker endpoint failed (issue 15)
SCORER_FALLBACKS = MetricSpec("ScorerFallbacks", "Count", "score")
# Champion vs shadows (issue 15), per shadow model_version: events by (champion band, shadow band).
# The diagonal is agreement, the six other pairs are the band flips by direction; compared = all nine.
# One 3x3 matrix instead of separate counters, so every ratio the dashboard draws is over the same events.
SHADOW_BANDS = MetricSpec("ShadowBands", "Count", "score", ("model_version", "champion_band", "shadow_band"))
# Score distribution per model version (the champion's and each shadow's): events per score bucket of
# width 0.1 (SCORE_BUCKETS). Fixed buckets keep it at 10 series per model version (a version changes only
# with a deploy), where one series per distinct score would be unbounded.
SCORES_BY_BUCKET = MetricSpec("ScoresByBucket", "Count", "score", ("model_version", "role", "score_bucket"))
# events a shadow failed to score (its scores are left out of the batch; the champion's stand). No
# model_version dimension, so one alarm sees every shadow; the log line names the shadow that failed.
SHADOW_FAILURES = MetricSpec("ShadowFailures", "Count", "score")
# load
EVENTS_LOADED = MetricSpec("EventsLoaded", "Count", "load")
ROWS_MERGED = MetricSpec("RowsMerged", "Count", "load")
DUPLICATES_SUPPRESSED = MetricSpec("DuplicatesSuppressed", "Count", "load")
LOAD_BATCH_SIZE = MetricSpec("LoadBatchSize", "Count", "load", statistic="Average")
# Lag, one value per loaded event (so percentiles are over events, not over batches):
# from arrival on the Kinesis stream (the pipeline's own delay) and from the event's occurred_at
# (what a consumer of the warehouse sees; includes the producer's delay).
ARRIVAL_TO_LOAD_LAG = MetricSpec("ArrivalToLoadLag", "Milliseconds", "load", statistic="p90")
EVENT_TIME_TO_LOAD_LAG = MetricSpec("EventTimeToLoadLag", "Milliseconds", "load", statistic="p90")
# every stage: messages (SQS) or records (Kinesis) handed back for retry, by stage and cause
PROCESSING_FAILURES = MetricSpec("ProcessingFailures", "Count", "any", ("stage", "cause"))


# ScoresByBucket: ``score_bucket`` is the bucket's lower edge ("0.0" .. "0.9"; a score of 1.0 is in "0.9"),
# ``role`` says whose score it is.
SCORE_BUCKETS = tuple(f"{k / 10:.1f}" for k in range(10))
ROLE_CHAMPION = "champion"
ROLE_SHADOW = "shadow"


def score_bucket(score: float) -> str:
    """The ``score_bucket`` of a score in [0, 1] (out-of-range scores are clamped into the end buckets)."""
    return SCORE_BUCKETS[min(max(int(score * 10), 0), 9)]


class Cause:
    """Why a stage handed work back. A stage adds a cause by listing it in ``FAILURE_CAUSES``."""

    POISON = "poison"  # the message itself is bad (undecodable, refused by the warehouse): fails alone
    STATE_STORE = "state_store"  # the per-user state (DynamoDB) or scoring over it raised
    PUBLISH = "publish"  # the next queue (SQS) refused the send
    ARCHIVE = "archive"  # the S3 write (quarantine/ or enriched/) failed
    WAREHOUSE = "warehouse"  # Redshift: connect, statement, timeout or commit failed


# The (stage, cause) pairs the code emits and the alarms sum: one alarm per stage reads all of its
# causes, so adding a cause here is all a stage needs for its failures to be alarmed and graphed.
FAILURE_CAUSES: dict[str, tuple[str, ...]] = {
    "parse": (Cause.ARCHIVE, Cause.PUBLISH),
    "score": (Cause.POISON, Cause.STATE_STORE, Cause.PUBLISH, Cause.ARCHIVE),
    "load": (Cause.POISON, Cause.ARCHIVE, Cause.WAREHOUSE),
}

ALL_METRICS: tuple[MetricSpec, ...] = (
    RECORDS_RECEIVED,
    EVENTS_PARSED,
    EVENTS_QUARANTINED,
    QUARANTINED_BY_REASON,
    EVENTS_SCORED,
    EVENTS_FLAGGED,
    SCORED_BY_BAND,
    DUPLICATE_EVENTS_SKIPPED,
    SCORE_EVENTS_QUARANTINED,
    SCORER_FALLBACKS,
    SHADOW_BANDS,
    SCORES_BY_BUCKET,
    SHADOW_FAILURES,
    EVENTS_LOADED,
    ROWS_MERGED,
    DUPLICATES_SUPPRESSED,
    LOAD_BATCH_SIZE,
    ARRIVAL_TO_LOAD_LAG,
    EVENT_TIME_TO_LOAD_LAG,
    PROCESSING_FAILURES,
)


# X-Ray: patch only botocore (the AWS calls worth tracing). Powertools' default patches every
# library the X-Ray SDK knows, importing requests, sqlite3 and more: about 100 ms of cold start.
TRACED_MODULES = ("botocore",)


def set_environment_dimension(metrics: Any, environment: str) -> None:
    """Add the ``environment`` default dimension once per container.

    Powertools keeps default dimensions across flushes; setting them again on every invocation
    re-adds the dimension and warns each time.
    """
    if metrics.default_dimensions.get("environment") != environment:
        metrics.set_default_dimensions(environment=environment)
