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
    stage: str  # parse, score or load
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
# load
EVENTS_LOADED = MetricSpec("EventsLoaded", "Count", "load")
ROWS_MERGED = MetricSpec("RowsMerged", "Count", "load")
DUPLICATES_SUPPRESSED = MetricSpec("DuplicatesSuppressed", "Count", "load")
LOAD_BATCH_SIZE = MetricSpec("LoadBatchSize", "Count", "load", statistic="Average")
END_TO_END_LAG = MetricSpec("EndToEndLag", "Milliseconds", "load", statistic="Maximum")
LOADER_FAILURES = MetricSpec("LoaderFailures", "Count", "load")

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
    EVENTS_LOADED,
    ROWS_MERGED,
    DUPLICATES_SUPPRESSED,
    LOAD_BATCH_SIZE,
    END_TO_END_LAG,
    LOADER_FAILURES,
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
