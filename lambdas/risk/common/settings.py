"""Runtime settings of the Lambda functions, read from environment variables.

The stacks and the local runner both build the environment through
``stacks.config.runtime_environment``, which uses the names below, so a setting is
named once. Reading is lazy and per field, so a function reads only what it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Environment variable names (the contract between the stacks and the code).
ENVIRONMENT = "RISK_ENVIRONMENT"
PARSED_QUEUE_URL = "PARSED_QUEUE_URL"
SCORED_QUEUE_URL = "SCORED_QUEUE_URL"
ARCHIVE_BUCKET = "ARCHIVE_BUCKET"
CLOCK_SKEW_TOLERANCE_S = "CLOCK_SKEW_TOLERANCE_S"  # parse: how far in the future occurred_at may be
PARSED_MESSAGE_GROUPS = "PARSED_MESSAGE_GROUPS"  # parse: hash buckets of user_id = FIFO message groups
STATE_TABLE = "STATE_TABLE"
STATE_TTL_DAYS = "STATE_TTL_DAYS"
STATE_DEDUPE_HORIZON_DAYS = "STATE_DEDUPE_HORIZON_DAYS"
SCORER = "SCORER"
MODEL_FILE = "MODEL_FILE"
SAGEMAKER_ENDPOINT = "SAGEMAKER_ENDPOINT"
SHADOW_SCORERS = "SHADOW_SCORERS"  # score: kind:model_file,... scored beside the champion (risk.score.scorers.shadow)
MEDIUM_THRESHOLD = "MEDIUM_THRESHOLD"
HIGH_THRESHOLD = "HIGH_THRESHOLD"
REDSHIFT_WORKGROUP = "REDSHIFT_WORKGROUP"
REDSHIFT_DATABASE = "REDSHIFT_DATABASE"
REDSHIFT_HOST = "REDSHIFT_HOST"
PII_KEY_SECRET_ARN = "PII_KEY_SECRET_ARN"
# The load function: server-side statement timeout (the socket gives up a few seconds later) and
# the batch size from which the stage is filled by COPY from the enriched objects.
WAREHOUSE_STATEMENT_TIMEOUT_S = "WAREHOUSE_STATEMENT_TIMEOUT_S"
BULK_LOAD_MIN_ROWS = "BULK_LOAD_MIN_ROWS"
# The migration function only: the schema owner (Redshift-managed admin secret) creates roles and policies.
REDSHIFT_ADMIN_SECRET_ARN = "REDSHIFT_ADMIN_SECRET_ARN"
# The retention function only: risk_events rows that occurred more than this many days ago are deleted.
RISK_EVENTS_RETENTION_DAYS = "RISK_EVENTS_RETENTION_DAYS"
# Local runs and tests only: a PostgreSQL DSN replaces the IAM-authenticated workgroup.
WAREHOUSE_DSN = "WAREHOUSE_DSN"
# File ingest: the stream it puts inbox files on, and its own queue (for continuation messages).
STREAM_NAME = "STREAM_NAME"
INGEST_QUEUE_URL = "INGEST_QUEUE_URL"
# Webhook function: the Secrets Manager secret holding every sender's HMAC secret ({"<sender>": "<secret>"}).
WEBHOOK_SECRETS_ARN = "WEBHOOK_SECRETS_ARN"


def env(name: str, default: str | None = None) -> str:
    """A required setting; a clear error names the missing variable."""
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise RuntimeError(f"environment variable {name} is not set")
    return value


@dataclass(frozen=True)
class Thresholds:
    medium: float
    high: float

    @classmethod
    def from_env(cls) -> Thresholds:
        return cls(float(env(MEDIUM_THRESHOLD, "0.3")), float(env(HIGH_THRESHOLD, "0.7")))
