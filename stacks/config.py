"""Typed, validated environment configuration: the one source of truth.

The environments live in ``cdk.json`` under ``context.environments``. The CDK app,
the local runner (``tools/local``) and the tests all read them through
:func:`load_environment`, so a value such as a batch size or ``maxReceiveCount`` is
typed exactly once. This module must not import ``aws_cdk``: the local tooling and
the Lambda-free tests use it without the CDK installed in their path.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from risk.common import (
    aws,
    settings,  # lambdas/ is on the path for the app, the tools and the tests
    telemetry,
)
from risk.score.vector import FEATURE_NAMES

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
ENVIRONMENT_NAMES = ("dev", "staging", "prod")
PRODUCT = "risk-scoring"  # also risk.common.telemetry.SERVICE

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")


class ConfigError(ValueError):
    """Raised when an environment's configuration is invalid; the message names the key."""


class _Reader:
    """Reads one mapping and reports every problem with its full dotted key."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected an object, got {type(data).__name__}")
        self._data = data
        self.path = path

    def has(self, key: str) -> bool:
        return key in self._data

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}"

    def raw(self, key: str) -> Any:
        if key not in self._data:
            raise ConfigError(f"{self._key(key)}: missing required key")
        return self._data[key]

    def child(self, key: str) -> _Reader:
        return _Reader(self.raw(key), self._key(key))

    def integer(self, key: str, lo: int, hi: int, *, optional: bool = False) -> int | None:
        value = self.raw(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self._key(key)}: expected an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ConfigError(f"{self._key(key)}: {value} is outside [{lo}, {hi}]")
        return value

    def req_int(self, key: str, lo: int, hi: int) -> int:
        value = self.integer(key, lo, hi)
        assert value is not None
        return value

    def number(self, key: str, lo: float, hi: float) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{self._key(key)}: expected a number, got {value!r}")
        if not lo <= value <= hi:
            raise ConfigError(f"{self._key(key)}: {value} is outside [{lo}, {hi}]")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._key(key)}: expected true or false, got {value!r}")
        return value

    def text(
        self, key: str, *, choices: tuple[str, ...] = (), pattern: re.Pattern[str] | None = None, optional: bool = False
    ) -> str | None:
        value = self.raw(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self._key(key)}: expected a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise ConfigError(f"{self._key(key)}: {value!r} is not one of {', '.join(choices)}")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{self._key(key)}: {value!r} is not a valid value")
        return value

    def req_str(self, key: str, **kwargs: Any) -> str:
        value = self.text(key, **kwargs)
        assert value is not None
        return value


_MODEL_FILE = re.compile(r"^[\w.-]+\.json$")


def _shadows(s: _Reader) -> tuple[ShadowConfig, ...]:
    """``scoring.shadows``: optional list of {scorer: logistic|xgboost, model_file}; no model twice."""
    if not s.has("shadows"):
        return ()
    items = s.raw("shadows")
    if not isinstance(items, list):
        raise ConfigError(f"{s.path}.shadows: expected a list, got {items!r}")
    out = []
    for k, item in enumerate(items):
        r = _Reader(item, f"{s.path}.shadows[{k}]")
        out.append(
            ShadowConfig(
                scorer=r.req_str("scorer", choices=("logistic", "xgboost")),
                model_file=r.req_str("model_file", pattern=_MODEL_FILE),
            )
        )
    files = [sh.model_file for sh in out] + [s.raw("model_file")]
    if len(set(files)) != len(files):
        raise ConfigError(f"{s.path}.shadows: a model file appears twice (or is the champion's)")
    return tuple(out)


_ARTIFACT = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_IMAGE_TAG = re.compile(r"^\d+\.\d+-\d+$")


def _with_sagemaker(scoring: ScoringConfig, r: _Reader, env_name: str) -> ScoringConfig:
    """``scoring.sagemaker``: the provisioned endpoint, as a shadow or as the champion."""
    artifact = r.req_str("artifact", pattern=_ARTIFACT)
    sm = SageMakerConfig(
        artifact=artifact,
        xgboost_image_tag=r.req_str("xgboost_image_tag", pattern=_IMAGE_TAG),
        memory_mb=r.req_int("memory_mb", 1024, 6144),  # serverless: 1, 2, ... 6 GB
        max_concurrency=r.req_int("max_concurrency", 1, 200),
        use=r.req_str("as", choices=SAGEMAKER_USES),
        endpoint_name=f"{PRODUCT}-{env_name}-{artifact}",
    )
    if sm.memory_mb % 1024:
        raise ConfigError(f"{r.path}.memory_mb: {sm.memory_mb} is not a multiple of 1024")
    images = json.loads(SAGEMAKER_IMAGES.read_text())
    if sm.xgboost_image_tag not in images["tags"]:
        raise ConfigError(
            f"{r.path}.xgboost_image_tag: {sm.xgboost_image_tag!r} is not one of {', '.join(images['tags'])}"
        )
    if not sm.artifact_path.is_file():
        raise ConfigError(
            f"{r.path}.artifact: no {sm.artifact_path.relative_to(REPO_ROOT)}; "
            "`python -m tools.train_model --model xgb` writes it"
        )
    inputs = _artifact_inputs(sm.artifact_path)
    if inputs != FEATURE_NAMES:
        raise ConfigError(
            f"{r.path}.artifact: {artifact} takes {len(inputs)} inputs, not the {len(FEATURE_NAMES)} the scorer "
            "sends (risk.score.vector.FEATURE_NAMES, in order); serve a model trained on them"
        )
    if sm.use == "champion":
        if scoring.scorer != "sagemaker":
            raise ConfigError(f"{r.path}.as: champion needs scoring.scorer sagemaker, got {scoring.scorer!r}")
        if scoring.sagemaker_endpoint not in (None, sm.endpoint_name):
            raise ConfigError(
                f"{r.path}.as: champion, but scoring.sagemaker_endpoint names {scoring.sagemaker_endpoint!r}, "
                f"not the provisioned {sm.endpoint_name!r} (leave it null)"
            )
        return replace(scoring, sagemaker=sm, sagemaker_endpoint=sm.endpoint_name)
    if scoring.sagemaker_endpoint == sm.endpoint_name:
        raise ConfigError(f"{r.path}.as: {sm.endpoint_name} is the champion's endpoint; say champion, not shadow")
    return replace(scoring, sagemaker=sm)


def _artifact_inputs(path: Path) -> tuple[str, ...]:
    """The input names of the native XGBoost model in a SageMaker artifact: the scorer sends its CSV
    columns by position, so a model trained on other inputs would score garbage, not fail."""
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(SAGEMAKER_MODEL_MEMBER)
        if member is None:
            raise ConfigError(f"{path.relative_to(REPO_ROOT)}: no {SAGEMAKER_MODEL_MEMBER} in it")
        model = json.loads(member.read())
    return tuple(model["learner"].get("feature_names") or ())


def _high_band_rate(a: _Reader) -> HighBandRateConfig:
    h = a.child("high_band_rate")
    out = HighBandRateConfig(
        min_pct=h.number("min_pct", 0.0, 100.0),
        max_pct=h.number("max_pct", 0.0, 100.0),
        min_events=h.req_int("min_events", 1, 10_000_000),
    )
    if out.min_pct >= out.max_pct:
        raise ConfigError(f"{h.path}.min_pct: {out.min_pct} is not below max_pct {out.max_pct}")
    return out


def _subscriptions(s: _Reader) -> dict[str, tuple[str, ...]]:
    """Severity -> e-mail addresses; critical alarms must reach at least one."""
    out = {}
    for severity in ALARM_SEVERITIES:
        addresses = s.raw(severity)
        key = f"{s.path}.{severity}"
        if not isinstance(addresses, list) or not all(isinstance(x, str) and _EMAIL.match(x) for x in addresses):
            raise ConfigError(f"{key}: expected a list of e-mail addresses, got {addresses!r}")
        if severity == "critical" and not addresses:
            raise ConfigError(f"{key}: critical alarms need at least one address")
        out[severity] = tuple(addresses)
    return out


@dataclass(frozen=True)
class KinesisConfig:
    capacity_mode: str  # ON_DEMAND or PROVISIONED
    shard_count: int | None
    retention_hours: int


@dataclass(frozen=True)
class KinesisSourceConfig:
    """Event source mapping of the parse function on the stream."""

    batch_size: int
    batching_window_s: int
    retry_attempts: int
    max_record_age_s: int
    bisect_on_error: bool
    parallelization_factor: int


@dataclass(frozen=True)
class FunctionConfig:
    memory_mb: int
    timeout_s: int
    batch_size: int
    batching_window_s: int
    max_concurrency: int | None


@dataclass(frozen=True)
class QueueConfig:
    max_receive_count: int
    dlq_retention_days: int
    visibility_timeout_factor: int
    # Work queues (parsed, scored): long enough to ride out a warehouse outage with the load mapping
    # disabled (docs/runbooks/warehouse-outage.md). Below the DLQ's: a message moved to a standard DLQ
    # keeps its first enqueue time, so it expires dlq_retention_days after it was first sent.
    retention_days: int
    # The parsed queue is FIFO; its message groups are this many hash buckets of user_id:
    # one group per user would stop packing, one group for all would serialise the score stage.
    parsed_message_groups: int

    def visibility_timeout_s(self, consumer: FunctionConfig) -> int:
        """AWS recommends at least 6x the consumer's timeout (plus the batching window)."""
        return self.visibility_timeout_factor * consumer.timeout_s + consumer.batching_window_s


@dataclass(frozen=True)
class RedshiftConfig:
    """``rpu_hours_per_day``: the daily compute budget, enforced by a Redshift Serverless usage limit with
    ``usage_limit_breach_action`` (log, emit-metric or deactivate); ``redshift-rpu-hours`` warns at 80%."""

    database: str
    admin_username: str
    base_rpu: int
    max_rpu: int
    statement_timeout_s: int  # per statement, server-side; the load function's timeout must leave room
    bulk_load_min_rows: int  # from this batch size the loader stages with COPY from the enriched objects
    rpu_hours_per_day: int
    usage_limit_breach_action: str


@dataclass(frozen=True)
class ShadowConfig:
    """A bundled model scored beside the champion (issue 15): stored, never acted on."""

    scorer: str  # logistic or xgboost
    model_file: str


SAGEMAKER_USES = ("shadow", "champion")
SAGEMAKER_ARTIFACTS = REPO_ROOT / "artifacts" / "sagemaker"  # <artifact>/model.tar.gz (tools/train_xgb.py)
SAGEMAKER_MODEL_MEMBER = "xgboost-model"  # the built-in container loads the one file in model.tar.gz
SAGEMAKER_IMAGES = SAGEMAKER_ARTIFACTS / "xgboost-images.json"  # built-in XGBoost image: tags, account per region


@dataclass(frozen=True)
class SageMakerConfig:
    """``scoring.sagemaker``: a serverless endpoint the stacks provision (stacks/sagemaker.py) from
    ``artifacts/sagemaker/<artifact>/model.tar.gz`` on the region's built-in XGBoost image; ``use``
    (key ``as``) makes it a shadow or the champion. Its name is fixed here, so the function's settings,
    the score role's permission and the endpoint cannot disagree."""

    artifact: str
    xgboost_image_tag: str
    memory_mb: int
    max_concurrency: int
    use: str
    endpoint_name: str

    @property
    def artifact_path(self) -> Path:
        return SAGEMAKER_ARTIFACTS / self.artifact / "model.tar.gz"


@dataclass(frozen=True)
class ScoringConfig:
    scorer: str  # the champion: rules, logistic, xgboost or sagemaker
    model_file: str
    sagemaker_endpoint: str | None
    medium_threshold: float
    high_threshold: float
    shadows: tuple[ShadowConfig, ...] = ()
    sagemaker: SageMakerConfig | None = None

    @property
    def shadow_endpoint(self) -> str | None:
        """The provisioned endpoint when it runs as a shadow."""
        return self.sagemaker.endpoint_name if self.sagemaker and self.sagemaker.use == "shadow" else None

    @property
    def invoked_endpoints(self) -> tuple[str, ...]:
        """Every endpoint the score function calls: the score role may invoke exactly these."""
        return tuple(e for e in (self.sagemaker_endpoint, self.shadow_endpoint) if e)


ALARM_SEVERITIES = ("critical", "warning")


@dataclass(frozen=True)
class HighBandRateConfig:
    """The expected band of the flagged (high band) rate, in percent of scored events per hour."""

    min_pct: float
    max_pct: float
    min_events: int  # hours with fewer scored events are not judged (a rate of a handful is noise)


@dataclass(frozen=True)
class AlarmConfig:
    """Thresholds, and who is told: ``subscriptions`` maps a severity to e-mail addresses.

    critical: data is at risk (a dead-letter queue filling, the stream's iterator falling behind
    its retention, the loader failing): page someone. warning: everything else (slowness, errors
    being retried, throttling, bad producers): look during working hours.
    """

    subscriptions: Mapping[str, tuple[str, ...]]
    iterator_age_ms: int
    queue_oldest_message_s: int
    function_error_rate_pct: float
    firehose_freshness_s: int
    quarantine_rate_pct: float
    end_to_end_lag_s: int
    silent_producer_minutes: int | None
    # "<stage>-failing": failures in failing_minutes of the last failing_window_minutes. The window is
    # shorter than the work queues' visibility timeout, so one message's retry cannot count twice.
    failing_minutes: int
    failing_window_minutes: int
    runbook_base_url: str | None  # e.g. https://github.com/<org>/<repo>/blob/main; None: the repository path
    # The champion's high-band share of scored events (issue 15): warn outside [min_pct, max_pct] in hours
    # with at least min_events scored. None (no ``high_band_rate`` key): no alarm.
    high_band_rate: HighBandRateConfig | None = None


RETENTION_STATEMENT_TIMEOUT_S = 600  # the daily purge may wait behind a load, then delete a day of rows


@dataclass(frozen=True)
class ArchiveConfig:
    """How long the archive keeps each prefix (days after creation), and object lock's default retention.

    ``raw/`` and ``quarantine/`` hold clear-text PII: they expire. With object lock on, every new
    object version is locked in governance mode for ``object_lock_retention_days`` (at most the
    shortest expiry, so nothing expires while the lock still holds its current version).
    """

    raw_expiry_days: int
    enriched_expiry_days: int
    quarantine_expiry_days: int
    object_lock_retention_days: int | None
    warehouse_retention_days: int  # risk_events rows older than this are deleted daily (the retention job)


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    account: str | None
    region: str
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    kinesis: KinesisConfig
    kinesis_source: KinesisSourceConfig
    parse: FunctionConfig
    score: FunctionConfig
    load: FunctionConfig
    queues: QueueConfig
    redshift: RedshiftConfig
    scoring: ScoringConfig
    state_ttl_days: int
    # An event id is recognised as a duplicate this long after it was folded out of the 24 h history:
    # at least as long as SQS (queue and DLQ) and Kinesis can bring an event back (checked here).
    state_dedupe_horizon_days: int
    clock_skew_tolerance_s: int  # parse: occurred_at may be this far after arrival (else future_timestamp)
    log_retention_days: int
    removal_policy: str  # retain or destroy
    object_lock: bool
    archive: ArchiveConfig
    alarms: AlarmConfig

    @property
    def prefix(self) -> str:
        """Resource name prefix, e.g. ``risk-scoring-dev``."""
        return f"{PRODUCT}-{self.name}"

    @property
    def is_production(self) -> bool:
        return self.name == "prod"

    def function(self, stage: str) -> FunctionConfig:
        return {"parse": self.parse, "score": self.score, "load": self.load}[stage]

    def queue_name(self, key: str) -> str:
        """Physical SQS queue name, shared by the stacks and the local runner (``.fifo`` for FIFO queues)."""
        return f"{self.prefix}-{key}" + (".fifo" if is_fifo(key) else "")

    def function_name(self, stage: str) -> str:
        """Physical Lambda function name, e.g. ``risk-scoring-prod-parse``: fixed so that an operator
        finds the function and its log group (``/aws/lambda/<name>``) by the name the runbooks give."""
        return f"{self.prefix}-{stage}"


@dataclass(frozen=True)
class QueueSpec:
    """A work queue between two stages; each has its own dead-letter queue ``<key>-dlq``."""

    key: str
    producer: str
    consumer: str
    fifo: bool = False  # FIFO, and so is its DLQ (SQS requires it)

    @property
    def dlq_key(self) -> str:
        return f"{self.key}-dlq"


# The chain parse -> parsed -> score -> scored -> load. The parse function's Kinesis
# on-failure destination is its own queue (PARSE_FAILURES_QUEUE), read by operators only.
# parsed is FIFO: the score stage sees each user's events in stream order (docs/scoring.md).
WORK_QUEUES = (QueueSpec("parsed", "parse", "score", fifo=True), QueueSpec("scored", "score", "load"))
PARSE_FAILURES_QUEUE = "parse-failures"


def is_fifo(key: str) -> bool:
    """Whether the queue ``key`` (a work queue or its DLQ) is a FIFO queue."""
    return any(spec.fifo and key in (spec.key, spec.dlq_key) for spec in WORK_QUEUES)


# Retention periods that CloudWatch Logs accepts.
_LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _sqs_function(r: _Reader) -> FunctionConfig:
    cfg = FunctionConfig(
        memory_mb=r.req_int("memory_mb", 128, 10_240),
        timeout_s=r.req_int("timeout_s", 3, 900),
        batch_size=r.req_int("batch_size", 1, 10_000),
        batching_window_s=r.req_int("batching_window_s", 0, 300),
        max_concurrency=r.integer("max_concurrency", 2, 1000, optional=True),
    )
    if cfg.batch_size > 10 and cfg.batching_window_s == 0:
        raise ConfigError(f"{r.path}.batching_window_s: SQS batch sizes above 10 need a batching window")
    return cfg


def _dedupe_horizon(r: Any, queues: QueueConfig, kinesis: KinesisConfig) -> int:
    horizon: int = r.req_int("state_dedupe_horizon_days", 1, 365)
    needed = max(queues.retention_days, queues.dlq_retention_days, -(-kinesis.retention_hours // 24))
    if horizon < needed:
        raise ConfigError(
            f"{r.path}.state_dedupe_horizon_days: {horizon} days is shorter than SQS and Kinesis can bring an "
            f"event back ({needed} days: the queues', the DLQs' and the stream's retention)"
        )
    return horizon


def parse_environment(name: str, raw: Any) -> EnvironmentConfig:
    """Validate one environment's raw mapping; raise :class:`ConfigError` naming the bad key."""
    r = _Reader(raw, f"environments.{name}")
    account = r.text("account", pattern=_ACCOUNT, optional=True) or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION") if r.raw("region") is None else r.req_str("region", pattern=_REGION)
    if not region:
        raise ConfigError(f"environments.{name}.region: missing (set it or CDK_DEFAULT_REGION)")
    azs_raw = r.raw("availability_zones")
    if (
        not isinstance(azs_raw, list)
        or not azs_raw
        or not all(isinstance(z, str) and z.startswith(region) for z in azs_raw)
    ):
        raise ConfigError(f"environments.{name}.availability_zones: expected a list of zones in {region}")
    if len(set(azs_raw)) < 3:
        raise ConfigError(
            f"environments.{name}.availability_zones: Redshift Serverless needs subnets in at least 3 zones"
        )

    k = r.child("kinesis")
    mode = k.req_str("capacity_mode", choices=("ON_DEMAND", "PROVISIONED"))
    shards = k.integer("shard_count", 1, 500, optional=True)
    if (mode == "PROVISIONED") != (shards is not None):
        raise ConfigError(f"{k.path}.shard_count: required with PROVISIONED, must be null with ON_DEMAND")
    kinesis = KinesisConfig(mode, shards, k.req_int("retention_hours", 24, 8760))

    ks = r.child("kinesis_source")
    kinesis_source = KinesisSourceConfig(
        batch_size=ks.req_int("batch_size", 1, 10_000),
        batching_window_s=ks.req_int("batching_window_s", 0, 300),
        retry_attempts=ks.req_int("retry_attempts", 0, 10_000),
        max_record_age_s=ks.req_int("max_record_age_s", 60, 604_800),
        bisect_on_error=ks.flag("bisect_on_error"),
        parallelization_factor=ks.req_int("parallelization_factor", 1, 10),
    )

    fns = r.child("functions")
    # The parse function's batching belongs to its Kinesis mapping: typed once, in kinesis_source.
    p = fns.child("parse")
    for key in ("batch_size", "batching_window_s", "max_concurrency"):
        if p.has(key):
            raise ConfigError(
                f"{p.path}.{key}: set the parse function's batching in environments.{name}.kinesis_source"
            )
    parse = FunctionConfig(
        memory_mb=p.req_int("memory_mb", 128, 10_240),
        timeout_s=p.req_int("timeout_s", 3, 900),
        batch_size=kinesis_source.batch_size,
        batching_window_s=kinesis_source.batching_window_s,
        max_concurrency=None,
    )
    score = _sqs_function(fns.child("score"))
    load = _sqs_function(fns.child("load"))
    for stage, fn in (("parse", parse), ("score", score), ("load", load)):
        if fn.timeout_s <= aws.WORST_CASE_CALL_S:
            raise ConfigError(
                f"{fns.path}.{stage}.timeout_s: {fn.timeout_s} s cannot hold one AWS call's worst case "
                f"({aws.WORST_CASE_CALL_S:g} s, risk.common.aws)"
            )

    q = r.child("queues")
    queues = QueueConfig(
        max_receive_count=q.req_int("max_receive_count", 1, 1000),
        dlq_retention_days=q.req_int("dlq_retention_days", 1, 14),
        visibility_timeout_factor=q.req_int("visibility_timeout_factor", 6, 20),
        retention_days=q.req_int("retention_days", 1, 14),
        parsed_message_groups=q.req_int("parsed_message_groups", 1, 100_000),
    )
    if queues.retention_days >= queues.dlq_retention_days:
        raise ConfigError(
            f"{q.path}.retention_days: {queues.retention_days} must be below dlq_retention_days "
            f"({queues.dlq_retention_days}); a dead-lettered message keeps its first enqueue time"
        )
    for spec in WORK_QUEUES:
        consumer = score if spec.consumer == "score" else load
        if spec.fifo and (consumer.batch_size > 10 or consumer.batching_window_s):
            raise ConfigError(
                f"environments.{name}.functions.{spec.consumer}: reads the FIFO queue {spec.key}, "
                "which takes a batch_size of at most 10 and a batching_window_s of 0"
            )
    for stage, fn in (("score", score), ("load", load)):
        if queues.visibility_timeout_s(fn) > 43_200:
            raise ConfigError(
                f"environments.{name}.functions.{stage}.timeout_s: queue visibility timeout "
                f"{queues.visibility_timeout_s(fn)} s would exceed SQS's 12 hours"
            )

    rs = r.child("redshift")
    redshift = RedshiftConfig(
        database=rs.req_str("database", pattern=re.compile(r"^[a-z][a-z0-9_]{0,62}$")),
        admin_username=rs.req_str("admin_username", pattern=re.compile(r"^[a-z][a-z0-9_]{0,62}$")),
        base_rpu=rs.req_int("base_rpu", 4, 1024),
        max_rpu=rs.req_int("max_rpu", 4, 1024),
        statement_timeout_s=rs.req_int("statement_timeout_s", 1, 900),
        bulk_load_min_rows=rs.req_int("bulk_load_min_rows", 1, 1_000_000),
        rpu_hours_per_day=rs.req_int("rpu_hours_per_day", 1, 1_000_000),
        usage_limit_breach_action=rs.req_str("usage_limit_breach_action", choices=("log", "emit-metric", "deactivate")),
    )
    if redshift.base_rpu % 8 and redshift.base_rpu > 8:
        raise ConfigError(f"{rs.path}.base_rpu: must be 4 or a multiple of 8")
    if redshift.max_rpu < redshift.base_rpu:
        raise ConfigError(f"{rs.path}.max_rpu: {redshift.max_rpu} is below base_rpu {redshift.base_rpu}")
    # A load runs two statements that can wait long (the LOCK behind another load, then the publish):
    # both must time out, and the function must still report its failures, before Lambda kills it.
    if 2 * redshift.statement_timeout_s + 10 > load.timeout_s:
        raise ConfigError(
            f"{rs.path}.statement_timeout_s: {redshift.statement_timeout_s} s; two statements plus 10 s must fit "
            f"in functions.load.timeout_s ({load.timeout_s} s)"
        )

    s = r.child("scoring")
    scoring = ScoringConfig(
        scorer=s.req_str("scorer", choices=("rules", "logistic", "xgboost", "sagemaker")),
        model_file=s.req_str("model_file", pattern=re.compile(r"^[\w.-]+\.json$")),
        sagemaker_endpoint=s.text("sagemaker_endpoint", optional=True),
        medium_threshold=s.number("medium_threshold", 0.0, 1.0),
        high_threshold=s.number("high_threshold", 0.0, 1.0),
        shadows=_shadows(s),
    )
    if s.has("sagemaker") and s.raw("sagemaker") is not None:
        scoring = _with_sagemaker(scoring, s.child("sagemaker"), name)
    if scoring.scorer == "sagemaker" and not scoring.sagemaker_endpoint:
        raise ConfigError(f"{s.path}.sagemaker_endpoint: required when scorer is sagemaker")
    if scoring.medium_threshold >= scoring.high_threshold:
        raise ConfigError(f"{s.path}.medium_threshold: must be below high_threshold")

    retention = r.req_int("log_retention_days", 1, 3653)
    if retention not in _LOG_RETENTION_DAYS:
        raise ConfigError(
            f"environments.{name}.log_retention_days: {retention} is not a CloudWatch Logs "
            f"retention period ({', '.join(map(str, _LOG_RETENTION_DAYS))})"
        )
    removal = r.req_str("removal_policy", choices=("retain", "destroy"))
    if name == "prod" and removal != "retain":
        raise ConfigError("environments.prod.removal_policy: must be retain in prod")

    object_lock = r.flag("object_lock")
    ar = r.child("archive")
    archive = ArchiveConfig(
        raw_expiry_days=ar.req_int("raw_expiry_days", 1, 3650),
        enriched_expiry_days=ar.req_int("enriched_expiry_days", 1, 3650),
        quarantine_expiry_days=ar.req_int("quarantine_expiry_days", 1, 3650),
        object_lock_retention_days=ar.integer("object_lock_retention_days", 1, 3650, optional=True),
        warehouse_retention_days=ar.req_int("warehouse_retention_days", 1, 3650),
    )
    if object_lock and archive.object_lock_retention_days is None:
        raise ConfigError(f"{ar.path}.object_lock_retention_days: required when object_lock is true")
    if not object_lock and archive.object_lock_retention_days is not None:
        raise ConfigError(f"{ar.path}.object_lock_retention_days: must be null when object_lock is false")
    shortest = min(archive.raw_expiry_days, archive.enriched_expiry_days, archive.quarantine_expiry_days)
    if archive.object_lock_retention_days is not None and archive.object_lock_retention_days > shortest:
        raise ConfigError(
            f"{ar.path}.object_lock_retention_days: {archive.object_lock_retention_days} is longer than the "
            f"shortest expiry ({shortest} days)"
        )

    a = r.child("alarms")
    alarms = AlarmConfig(
        subscriptions=_subscriptions(a.child("subscriptions")),
        iterator_age_ms=a.req_int("iterator_age_ms", 1_000, 604_800_000),
        queue_oldest_message_s=a.req_int("queue_oldest_message_s", 60, 1_209_600),
        function_error_rate_pct=a.number("function_error_rate_pct", 0.0, 100.0),
        firehose_freshness_s=a.req_int("firehose_freshness_s", 60, 86_400),
        quarantine_rate_pct=a.number("quarantine_rate_pct", 0.0, 100.0),
        end_to_end_lag_s=a.req_int("end_to_end_lag_s", 1, 86_400),
        silent_producer_minutes=a.integer("silent_producer_minutes", 1, 1440, optional=True),
        failing_minutes=a.req_int("failing_minutes", 1, 60),
        failing_window_minutes=a.req_int("failing_window_minutes", 1, 60),
        runbook_base_url=a.text("runbook_base_url", pattern=re.compile(r"^https://\S+$"), optional=True),
        high_band_rate=_high_band_rate(a) if a.has("high_band_rate") else None,
    )
    if alarms.failing_minutes > alarms.failing_window_minutes:
        raise ConfigError(f"{a.path}.failing_minutes: more than failing_window_minutes")
    shortest = min(queues.visibility_timeout_s(score), queues.visibility_timeout_s(load))
    if alarms.failing_window_minutes * 60 >= shortest:
        raise ConfigError(
            f"{a.path}.failing_window_minutes: must be shorter than the shortest queue visibility timeout "
            f"({shortest} s), or one message's retry counts twice"
        )

    return EnvironmentConfig(
        name=name,
        account=account,
        region=region,
        availability_zones=tuple(azs_raw),
        vpc_cidr=r.req_str("vpc_cidr", pattern=re.compile(r"^\d+\.\d+\.\d+\.\d+/\d+$")),
        kinesis=kinesis,
        kinesis_source=kinesis_source,
        parse=parse,
        score=score,
        load=load,
        queues=queues,
        redshift=redshift,
        scoring=scoring,
        state_ttl_days=r.req_int("state_ttl_days", 1, 3650),
        state_dedupe_horizon_days=_dedupe_horizon(r, queues, kinesis),
        clock_skew_tolerance_s=r.req_int("clock_skew_tolerance_s", 0, 86_400),
        log_retention_days=retention,
        removal_policy=removal,
        object_lock=object_lock,
        archive=archive,
        alarms=alarms,
    )


def read_environments(cdk_json: Path = CDK_JSON) -> Mapping[str, Any]:
    """The raw ``context.environments`` mapping of ``cdk.json``."""
    environments: Mapping[str, Any] = json.loads(cdk_json.read_text())["context"]["environments"]
    return environments


_LAMBDA_RUNTIME = re.compile(r"^python3\.\d{1,2}$")


def lambda_runtime(cdk_json: Path = CDK_JSON) -> str:
    """The functions' Lambda runtime, e.g. ``python3.13`` (``context.lambda_runtime``).

    Pinned once: the stacks deploy it, the layer is built for it, and CI runs the Lambda
    code's tests on the same Python minor (``make test-runtime``), not only on the tooling's.
    """
    value = json.loads(cdk_json.read_text())["context"].get("lambda_runtime")
    if not isinstance(value, str) or not _LAMBDA_RUNTIME.match(value):
        raise ConfigError(f"lambda_runtime: expected a Lambda Python runtime such as 'python3.13', got {value!r}")
    return value


def lambda_python_version(cdk_json: Path = CDK_JSON) -> str:
    """``python3.13`` -> ``3.13``: what ``pip --python-version`` and the test interpreter use."""
    return lambda_runtime(cdk_json).removeprefix("python")


def load_environment(name: str, environments: Mapping[str, Any] | None = None) -> EnvironmentConfig:
    """Load and validate one environment, by default from the committed ``cdk.json``."""
    envs = read_environments() if environments is None else environments
    if name not in envs:
        raise ConfigError(f"env: unknown environment {name!r}; expected one of {', '.join(sorted(envs))}")
    return parse_environment(name, envs[name])


def runtime_environment(cfg: EnvironmentConfig, stage: str, resources: Mapping[str, str]) -> dict[str, str]:
    """Environment variables of one function (parse, score, load, migrate, retention or ingest).

    Both the stacks (with CloudFormation tokens as ``resources``) and the local runner
    (with moto's names and URLs) call this, so the two cannot drift. ``resources``
    maps the names in ``risk.common.settings`` to values; only those a stage needs are
    passed through.
    """
    needs = {
        "parse": (settings.PARSED_QUEUE_URL, settings.ARCHIVE_BUCKET),
        "score": (settings.SCORED_QUEUE_URL, settings.STATE_TABLE, settings.ARCHIVE_BUCKET),
        "load": (
            settings.ARCHIVE_BUCKET,
            settings.REDSHIFT_WORKGROUP,
            settings.REDSHIFT_HOST,
            settings.PII_KEY_SECRET_ARN,
        ),
        "migrate": (settings.REDSHIFT_WORKGROUP, settings.REDSHIFT_HOST, settings.REDSHIFT_ADMIN_SECRET_ARN),
        "retention": (settings.REDSHIFT_WORKGROUP, settings.REDSHIFT_HOST),
        "ingest": (settings.STREAM_NAME, settings.ARCHIVE_BUCKET, settings.INGEST_QUEUE_URL),
        "webhook": (settings.STREAM_NAME, settings.WEBHOOK_SECRETS_ARN),
    }[stage]
    missing = [k for k in needs if k not in resources]
    if missing:
        raise ConfigError(f"runtime_environment({stage}): missing resources {', '.join(missing)}")
    values = {k: resources[k] for k in needs}
    values[settings.ENVIRONMENT] = cfg.name
    values["POWERTOOLS_SERVICE_NAME"] = telemetry.SERVICE
    values["POWERTOOLS_METRICS_NAMESPACE"] = telemetry.NAMESPACE
    values["POWERTOOLS_LOG_LEVEL"] = "INFO"  # every deployed environment: DEBUG lines may carry payloads
    if stage in ("load", "migrate", "retention"):
        values[settings.REDSHIFT_DATABASE] = cfg.redshift.database
    if stage == "retention":
        values[settings.RISK_EVENTS_RETENTION_DAYS] = str(cfg.archive.warehouse_retention_days)
        values[settings.WAREHOUSE_STATEMENT_TIMEOUT_S] = str(RETENTION_STATEMENT_TIMEOUT_S)
    if stage == "load":
        values[settings.WAREHOUSE_STATEMENT_TIMEOUT_S] = str(cfg.redshift.statement_timeout_s)
        values[settings.BULK_LOAD_MIN_ROWS] = str(cfg.redshift.bulk_load_min_rows)
    if stage in ("parse", "ingest", "webhook"):
        values[settings.CLOCK_SKEW_TOLERANCE_S] = str(cfg.clock_skew_tolerance_s)
    if stage == "parse":
        values[settings.PARSED_MESSAGE_GROUPS] = str(cfg.queues.parsed_message_groups)
    if stage == "score":
        values[settings.STATE_TTL_DAYS] = str(cfg.state_ttl_days)
        values[settings.STATE_DEDUPE_HORIZON_DAYS] = str(cfg.state_dedupe_horizon_days)
        values[settings.SCORER] = cfg.scoring.scorer
        values[settings.MODEL_FILE] = cfg.scoring.model_file
        values[settings.MEDIUM_THRESHOLD] = str(cfg.scoring.medium_threshold)
        values[settings.HIGH_THRESHOLD] = str(cfg.scoring.high_threshold)
        if cfg.scoring.sagemaker_endpoint:
            values[settings.SAGEMAKER_ENDPOINT] = cfg.scoring.sagemaker_endpoint
        shadows = [f"{sh.scorer}:{sh.model_file}" for sh in cfg.scoring.shadows]
        if cfg.scoring.shadow_endpoint:  # the provisioned SageMaker endpoint as a shadow (stacks/sagemaker.py)
            shadows.append(f"sagemaker:{cfg.scoring.shadow_endpoint}")
        if shadows:
            values[settings.SHADOW_SCORERS] = ",".join(shadows)
    return values
