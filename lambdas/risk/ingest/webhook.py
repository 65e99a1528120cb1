"""HTTPS webhooks, without Lambda: check the sender's signature, validate the events, put them on the stream.

A sender (a payment provider, a partner) has no AWS credentials, so the request authenticates itself
as payment providers sign theirs: ``X-Risk-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is the
HMAC-SHA256, with the sender's own secret, of ``"<t>.<body>"``. The timestamp bounds replays to
:data:`SIGNATURE_TOLERANCE_S`; the comparison is constant-time. The body is one event document, or
several as JSON Lines; each is validated by the parse stage's own parser (same reasons), and the
request is taken whole or refused whole (a 400 naming the first bad event's reason in one line), so a
sender's retry never half-duplicates a batch. Valid events go on the stream byte for byte with their
user id as partition key (``risk.ingest.stream``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from risk.events.limits import DEFAULT_CLOCK_SKEW_TOLERANCE_S
from risk.ingest import stream
from risk.parse.parser import Quarantined, parse_record

SIGNATURE_HEADER = "x-risk-signature"
SIGNATURE_TOLERANCE_S = 300  # how old (or early) a signed timestamp may be: bounds a replayed request
# One request body. Declared here once: the stack's API and the handler both read it. Far below one
# PutRecords call (stream.MAX_BYTES_PER_CALL) and API Gateway's 10 MB, so a request is one small put.
MAX_BODY_BYTES = 1024 * 1024
# A sender waits for the answer (API Gateway gives up after 29 s): few PutRecords attempts and short
# client timeouts, then a 503 the sender retries, instead of the file ingest's patient retries.
PUT_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Refused:
    """A request not taken: the HTTP status and a one-line reason for the sender."""

    status: int
    reason: str


@dataclass(frozen=True)
class Accepted:
    events: int


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Risk-Signature`` value a sender puts on ``body`` at ``timestamp`` (riskctl and tests sign with it)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(header: str | None, secret: str | None, body: bytes, now: float) -> Refused | None:
    """None when ``header`` signs ``body`` with ``secret`` within the tolerance; else why not (401)."""
    if secret is None:
        return Refused(401, "unknown sender")
    if not header:
        return Refused(401, f"missing {SIGNATURE_HEADER} header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return Refused(401, "signature has no timestamp t=<unix seconds>")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_S:
        return Refused(401, f"signature timestamp outside {SIGNATURE_TOLERANCE_S} s of now")
    expected = signature(secret, timestamp, body).partition(",v1=")[2]
    # Every v1 is compared (a sender rotating secrets may send two); compare_digest is constant-time.
    if not any(hmac.compare_digest(expected.encode(), given.encode()) for given in fields.get("v1", [])):
        return Refused(401, "signature does not match")
    return None


def records(body: bytes) -> list[bytes]:
    """The event documents of a body: JSON Lines (one document is one line); empty lines skipped."""
    return [line for line in (raw.rstrip(b"\r") for raw in body.split(b"\n")) if line.strip()]


def validate(
    body: bytes, arrival: datetime, clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S
) -> list[stream.Entry] | Refused:
    """The stream entries of a body, or a 400/413 with the first bad event's reason (parse's own)."""
    if len(body) > MAX_BODY_BYTES:
        return Refused(413, f"body of {len(body)} bytes over the limit of {MAX_BODY_BYTES}")
    lines = records(body)
    if not lines:
        return Refused(400, "empty body: no event")
    entries: list[stream.Entry] = []
    for index, line in enumerate(lines):
        result = parse_record(
            line, sequence_number=str(index), arrival=arrival, clock_skew_tolerance_s=clock_skew_tolerance_s
        )
        if isinstance(result, Quarantined):
            detail = " ".join(result.detail.split())  # one line, whatever the parser's detail holds
            return Refused(400, f"event {index}: {result.reason.value}: {detail}")
        entries.append(stream.Entry(data=line, partition_key=result.user_id))
    return entries


def accept(
    kinesis: Any,
    stream_name: str,
    *,
    body: bytes,
    signature_header: str | None,
    secret: str | None,
    now: float,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
    put: Callable[..., list[stream.Placed]] = stream.put_records,
) -> Accepted | Refused:
    """One signed webhook request: verified, validated whole, then put on the stream."""
    if len(body) > MAX_BODY_BYTES:  # before hashing it
        return Refused(413, f"body of {len(body)} bytes over the limit of {MAX_BODY_BYTES}")
    refused = verify(signature_header, secret, body, now)
    if refused is not None:
        return refused
    return accept_trusted(
        kinesis, stream_name, body=body, now=now, clock_skew_tolerance_s=clock_skew_tolerance_s, put=put
    )


def accept_trusted(
    kinesis: Any,
    stream_name: str,
    *,
    body: bytes,
    now: float,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
    put: Callable[..., list[stream.Placed]] = stream.put_records,
) -> Accepted | Refused:
    """A request whose caller is already authenticated (IAM on ``POST /events``): validated, then put."""
    entries = validate(body, datetime.fromtimestamp(now, UTC), clock_skew_tolerance_s)
    if isinstance(entries, Refused):
        return entries
    put(kinesis, stream_name, entries, attempts=PUT_ATTEMPTS)
    return Accepted(len(entries))


def load_secrets(secret_string: str) -> Mapping[str, str]:
    """The senders' secrets from the Secrets Manager value ``{"<sender>": "<secret>", ...}``."""
    value = orjson.loads(secret_string)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError('webhook secrets must be a JSON object {"<sender>": "<secret>"}')
    return value
