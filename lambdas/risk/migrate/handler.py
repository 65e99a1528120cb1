"""CloudFormation custom resource (provider framework): apply the warehouse migrations on deploy.

Create and Update apply what is pending (a no-op when nothing is) and report the applied
versions; Delete leaves the warehouse alone (data outlives the stack). The function runs in the
warehouse VPC and signs in with its IAM role (``connect_serverless``).
"""

from __future__ import annotations

import os
from typing import Any

from risk.common.settings import REDSHIFT_DATABASE, REDSHIFT_HOST, REDSHIFT_WORKGROUP, env
from risk.warehouse.connection import connect_serverless
from risk.warehouse.migrations import applied_versions, default_directory, migrate

PHYSICAL_ID_PREFIX = "risk-warehouse-schema"


def on_event(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    workgroup, database = env(REDSHIFT_WORKGROUP), env(REDSHIFT_DATABASE)
    physical_id = event.get("PhysicalResourceId") or f"{PHYSICAL_ID_PREFIX}-{workgroup}-{database}"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": physical_id}
    with connect_serverless(workgroup, database, host=os.environ.get(REDSHIFT_HOST) or None) as warehouse:
        newly_applied = migrate(warehouse, default_directory())
        versions = applied_versions(warehouse)
    return {
        "PhysicalResourceId": physical_id,
        "Data": {
            "AppliedNow": ",".join(str(v) for v in newly_applied),
            "Versions": ",".join(str(v) for v in versions),
            "LatestVersion": str(max(versions, default=0)),
        },
    }
