"""CloudFormation custom resource (provider framework): apply the warehouse migrations on deploy.

Create and Update apply what is pending (a no-op when nothing is) and report the applied
versions; Delete leaves the warehouse alone (data outlives the stack). The function runs in the
warehouse VPC and signs in as the schema owner, the namespace's admin user, whose password
Redshift itself manages in Secrets Manager: migrations create roles and masking policies,
which the IAM identities of the pipeline (the loader included) are deliberately not allowed to.
"""

from __future__ import annotations

from typing import Any

import orjson

from risk.common import aws
from risk.common.settings import REDSHIFT_ADMIN_SECRET_ARN, REDSHIFT_DATABASE, REDSHIFT_HOST, REDSHIFT_WORKGROUP, env
from risk.warehouse.connection import connect_serverless
from risk.warehouse.migrations import applied_versions, default_directory, migrate

PHYSICAL_ID_PREFIX = "risk-warehouse-schema"


def _admin_credentials(secret_arn: str) -> tuple[str, str]:
    """The Redshift-managed admin secret holds ``{"username": ..., "password": ...}``."""
    value = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    secret = orjson.loads(value)
    return secret["username"], secret["password"]


def on_event(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    workgroup, database = env(REDSHIFT_WORKGROUP), env(REDSHIFT_DATABASE)
    physical_id = event.get("PhysicalResourceId") or f"{PHYSICAL_ID_PREFIX}-{workgroup}-{database}"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": physical_id}
    user, password = _admin_credentials(env(REDSHIFT_ADMIN_SECRET_ARN))
    with connect_serverless(workgroup, database, host=env(REDSHIFT_HOST), user=user, password=password) as warehouse:
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
