"""Lambda entry point of the HTTPS API (API Gateway REST proxy events -> Kinesis).

Thin on purpose: the flow is :mod:`risk.ingest.webhook`. ``POST /webhooks/{sender}`` carries no AWS
identity, so the sender's HMAC signature is its authentication; ``POST /events`` is IAM-authorised by
API Gateway, which hands the caller's ARN in ``requestContext.identity`` (checked again here, so a
route wired without IAM by mistake refuses everything). Every refusal is a status and a one-line
reason; nothing a sender sends produces a traceback.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aws_lambda_powertools import Logger, Tracer

from risk.common import aws, telemetry
from risk.common.settings import CLOCK_SKEW_TOLERANCE_S, ENVIRONMENT, STREAM_NAME, WEBHOOK_SECRETS_ARN, env
from risk.events.limits import DEFAULT_CLOCK_SKEW_TOLERANCE_S
from risk.ingest import stream, webhook

logger = Logger(service=telemetry.SERVICE)
tracer = Tracer(service=telemetry.SERVICE, patch_modules=telemetry.TRACED_MODULES)

_clients: tuple[Any, Mapping[str, str]] | None = None  # once per container: Kinesis and the senders' secrets


def clients() -> tuple[Any, Mapping[str, str]]:
    global _clients  # noqa: PLW0603 - the container-wide cache is the point
    if _clients is None:
        secrets = aws.client(
            "secretsmanager", connect_timeout=webhook.CONNECT_TIMEOUT_S, read_timeout=webhook.READ_TIMEOUT_S
        )  # the caller waits, as for the stream: every call of this function has the short budget
        secret = secrets.get_secret_value(SecretId=env(WEBHOOK_SECRETS_ARN))
        kinesis = aws.client("kinesis", connect_timeout=webhook.CONNECT_TIMEOUT_S, read_timeout=webhook.READ_TIMEOUT_S)
        _clients = (kinesis, webhook.load_secrets(secret["SecretString"]))
    return _clients


def response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": orjson.dumps(body).decode()}


def _body(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(environment=os.environ.get(ENVIRONMENT, "local"))
    kinesis, secrets = clients()
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    sender = (event.get("pathParameters") or {}).get("sender")
    skew = float(env(CLOCK_SKEW_TOLERANCE_S, str(DEFAULT_CLOCK_SKEW_TOLERANCE_S)))
    try:
        body = _body(event)
    except (binascii.Error, ValueError):
        return response(400, {"error": "body is not valid base64"})
    now = time.time()
    outcome: webhook.Accepted | webhook.Refused
    try:
        outcome = _accept(
            event, kinesis=kinesis, secrets=secrets, headers=headers, sender=sender, body=body, now=now, skew=skew
        )
    except stream.RecordsRejectedError as exc:  # throttled past every retry: the sender retries later
        logger.warning("request not put", sender=sender, error=str(exc))
        return response(503, {"error": "stream busy: retry later"})
    if isinstance(outcome, webhook.Refused):
        logger.warning("request refused", sender=sender, status=outcome.status, reason=outcome.reason)
        return response(outcome.status, {"error": outcome.reason})
    logger.info("request accepted", sender=sender, events=outcome.events)
    return response(200, {"accepted": outcome.events})


def _accept(
    event: Mapping[str, Any],
    *,
    kinesis: Any,
    secrets: Mapping[str, str],
    headers: Mapping[str, str],
    sender: str | None,
    body: bytes,
    now: float,
    skew: float,
) -> webhook.Accepted | webhook.Refused:
    if sender is not None:
        return webhook.accept(
            kinesis,
            env(STREAM_NAME),
            body=body,
            signature_header=headers.get(webhook.SIGNATURE_HEADER),
            secret=secrets.get(sender),
            now=now,
            clock_skew_tolerance_s=skew,
        )
    elif ((event.get("requestContext") or {}).get("identity") or {}).get("userArn"):
        return webhook.accept_trusted(kinesis, env(STREAM_NAME), body=body, now=now, clock_skew_tolerance_s=skew)
    return webhook.Refused(403, "no sender and no IAM identity")
