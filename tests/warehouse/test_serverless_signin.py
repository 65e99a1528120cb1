"""The loader's IAM sign-in to Redshift Serverless: GetCredentials through the bounded AWS client.

No Redshift here: the API call is checked against botocore's own model (Stubber validates the
request shape), and the driver's connect is replaced to see what it would be given.
"""

from __future__ import annotations

from typing import Any

import pytest
import redshift_connector
from botocore.stub import Stubber

from risk.common import aws
from risk.warehouse import connection as connection_module
from risk.warehouse.connection import CREDENTIALS_DURATION_S, REDSHIFT_PORT, connect_serverless


class _ConnectedError(Exception):
    """Raised by the stand-in driver connect once it has seen its options."""


@pytest.fixture
def signin(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, Any]]:
    """The functions' redshift-serverless client (to stub), and what the driver's connect would be given."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = aws.client("redshift-serverless")
    seen: dict[str, Any] = {}

    def fake_connect(**options: Any) -> None:
        seen.update(options)
        raise _ConnectedError

    monkeypatch.setattr(connection_module.aws, "client", lambda service: client)
    monkeypatch.setattr(redshift_connector, "connect", fake_connect)  # the driver, imported at the first connect
    return client, seen


def test_iam_sign_in_gets_credentials_with_the_functions_client(signin: tuple[Any, dict[str, Any]]) -> None:
    client, seen = signin
    assert client.meta.config.read_timeout == aws.READ_TIMEOUT_S
    assert client.meta.config.retries["mode"] == aws.RETRY_MODE
    with Stubber(client) as stub:
        stub.add_response(
            "get_credentials",
            {"dbUser": "IAMR:risk-scoring-dev-load", "dbPassword": "temporary", "expiration": "2026-11-30T04:00:00Z"},
            {"workgroupName": "risk-dev", "dbName": "risk", "durationSeconds": CREDENTIALS_DURATION_S},
        )
        with pytest.raises(_ConnectedError):
            connect_serverless("risk-dev", "risk", host="risk-dev.123.eu-west-1.redshift-serverless.amazonaws.com")
        stub.assert_no_pending_responses()
    assert seen["user"] == "IAMR:risk-scoring-dev-load"
    assert seen["password"] == "temporary"
    assert seen["port"] == REDSHIFT_PORT and seen["ssl"] is True
    assert seen["timeout"] > 0
    assert "iam" not in seen  # the driver never builds a boto3 client of its own


def test_without_a_host_the_workgroup_endpoint_is_looked_up(signin: tuple[Any, dict[str, Any]]) -> None:
    client, seen = signin
    with Stubber(client) as stub:
        stub.add_response("get_credentials", {"dbUser": "IAMR:x", "dbPassword": "p"})
        stub.add_response(
            "get_workgroup",
            {
                "workgroup": {
                    "workgroupName": "risk-dev",
                    "endpoint": {"address": "risk-dev.example.eu-west-1.redshift-serverless.amazonaws.com"},
                }
            },
            {"workgroupName": "risk-dev"},
        )
        with pytest.raises(_ConnectedError):
            connect_serverless("risk-dev", "risk")
    assert seen["host"] == "risk-dev.example.eu-west-1.redshift-serverless.amazonaws.com"
