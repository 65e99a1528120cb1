"""The scheduled warehouse retention job: delete ``risk_events`` rows older than the configured days.

EventBridge invokes it daily (stacks/schema.py). It runs in the warehouse VPC, signs in with IAM as
the database role ``risk_retention`` (V009: DELETE on ``risk_events`` and the load lock) and logs how
many rows it deleted. A failure raises: the alarms on its errors and on a day without a successful
run (stacks/schema.py) go to the warning topic.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from risk.common import telemetry
from risk.common.settings import RISK_EVENTS_RETENTION_DAYS, env
from risk.load.service import connect_from_environment
from risk.warehouse.retention import cutoff, purge_older_than

logger = Logger(service=telemetry.SERVICE)


@logger.inject_lambda_context(clear_state=True)
def on_schedule(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
    days = int(env(RISK_EVENTS_RETENTION_DAYS))
    with connect_from_environment() as warehouse:
        deleted = purge_older_than(warehouse, days)
    logger.info("risk_events retention applied", retention_days=days, cutoff=cutoff(days).isoformat(), rows=deleted)
    return {"deleted": deleted, "retention_days": days}
