"""The webhook function on moto (Kinesis, Secrets Manager), fed API Gateway REST proxy events: a signed
request's events go on the stream byte for byte keyed by user id; a bad signature, a stale timestamp,
an oversized body or a bad event is refused whole with a status and a one-line reason."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from risk.events.codec import encode_json
from risk.ingest import webhook
from tools.local.context import FakeLambdaContext

REGION = "eu-west-1"
STREAM = "risk-test-events"
SENDER = "acme-pay"
SECRET = "s3cr3t-of-acme"
API_KEY = "key-of-acme-usage-plan"


def _event(i: int, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": f"wh-{i}",
        "user_id": f"user-{i % 3}",
        "event_type": "payment",
        "occurred_at": "2024-05-01T11:00:00+02:00",
        "amount": 12.5,
        "currency": "EUR",
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def kinesis(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from risk.ingest import webhook_handler  # noqa: PLC0415

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    client = boto3.client("kinesis", region_name=REGION)
    client.create_stream(StreamName=STREAM, ShardCount=1)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="webhooks", SecretString=json.dumps({SENDER: SECRET, "other": "x"}))["ARN"]
    monkeypatch.setenv("STREAM_NAME", STREAM)
    monkeypatch.setenv("WEBHOOK_SECRETS_ARN", arn)
    monkeypatch.setattr(webhook_handler, "_clients", None)  # read the secret from moto, once
    yield client


def _stream(kinesis: Any) -> list[tuple[str, bytes]]:
    shard = kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]
    return [(r["PartitionKey"], r["Data"]) for r in records]


def _call(body: bytes, *, sender: str | None = SENDER, header: str | None = None, iam: bool = False) -> dict[str, Any]:
    from risk.ingest import webhook_handler  # noqa: PLC0415

    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Risk-Signature"] = header
    event = {
        "resource": "/webhooks/{sender}" if sender else "/events",
        "httpMethod": "POST",
        "headers": headers,
        "pathParameters": {"sender": sender} if sender else None,
        "requestContext": {"identity": {"userArn": "arn:aws:iam::123456789012:role/producer" if iam else None}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    result = webhook_handler.lambda_handler(event, FakeLambdaContext("risk-scoring-test-webhook", 256, 10))
    assert "\n" not in result["body"], "a response is one line"
    return {"status": result["statusCode"], **json.loads(result["body"])}


def test_a_signed_batch_goes_on_the_stream_byte_for_byte_keyed_by_user_id(kinesis: Any) -> None:
    lines = [encode_json(_event(i)) for i in range(5)]
    body = b"\n".join(lines) + b"\n"

    result = _call(body, header=webhook.signature(SECRET, int(time.time()), body))

    assert result == {"status": 200, "accepted": 5}
    assert _stream(kinesis) == [(f"user-{i % 3}", line) for i, line in enumerate(lines)]


def test_an_iam_authorised_request_on_events_needs_no_signature(kinesis: Any) -> None:
    body = encode_json(_event(1))
    assert _call(body, sender=None, iam=True) == {"status": 200, "accepted": 1}
    assert _stream(kinesis) == [("user-1", body)]


def test_a_request_with_neither_sender_nor_iam_identity_is_forbidden(kinesis: Any) -> None:
    assert _call(encode_json(_event(1)), sender=None)["status"] == 403
    assert _stream(kinesis) == []


@pytest.mark.parametrize(
    ("secret", "sender", "reason"),
    [
        ("wrong-secret", SENDER, "signature does not match"),
        (SECRET, "nobody", "unknown sender"),
        ("x", SENDER, "signature does not match"),  # another sender's secret
    ],
)
def test_a_bad_signature_is_refused_with_401_and_puts_nothing(
    kinesis: Any, secret: str, sender: str, reason: str
) -> None:
    body = encode_json(_event(1))
    result = _call(body, sender=sender, header=webhook.signature(secret, int(time.time()), body))
    assert result == {"status": 401, "error": reason}
    assert _stream(kinesis) == []


def test_a_signature_over_another_body_or_missing_is_refused(kinesis: Any) -> None:
    body = encode_json(_event(1))
    other = encode_json(_event(2))
    assert _call(body, header=webhook.signature(SECRET, int(time.time()), other))["status"] == 401
    assert _call(body) == {"status": 401, "error": "missing x-risk-signature header"}
    assert _call(body, header="v1=abc")["error"] == "signature has no timestamp t=<unix seconds>"
    assert _stream(kinesis) == []


@pytest.mark.parametrize("age_s", [webhook.SIGNATURE_TOLERANCE_S + 5, -(webhook.SIGNATURE_TOLERANCE_S + 5)])
def test_a_stale_or_future_timestamp_is_refused_even_when_correctly_signed(kinesis: Any, age_s: int) -> None:
    body = encode_json(_event(1))
    result = _call(body, header=webhook.signature(SECRET, int(time.time()) - age_s, body))
    assert result == {"status": 401, "error": "signature timestamp outside 300 s of now"}
    assert _stream(kinesis) == []


def test_a_second_v1_lets_a_sender_rotate_its_secret(kinesis: Any) -> None:
    body = encode_json(_event(1))
    now = int(time.time())
    header = webhook.signature("old-secret", now, body) + "," + webhook.signature(SECRET, now, body).split(",")[1]
    assert _call(body, header=header)["status"] == 200


def test_an_oversized_body_is_refused_with_413_before_anything_else(kinesis: Any) -> None:
    line = encode_json(_event(1, metadata={"pad": "x" * 1000}))
    body = b"\n".join([line] * (webhook.MAX_BODY_BYTES // len(line) + 1))
    assert len(body) > webhook.MAX_BODY_BYTES
    result = _call(body, header=webhook.signature(SECRET, int(time.time()), body))
    assert result["status"] == 413
    assert result["error"] == f"body of {len(body)} bytes over the limit of {webhook.MAX_BODY_BYTES}"
    assert _stream(kinesis) == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"{not json", "event 1: not_json: "),
        (encode_json({k: v for k, v in _event(9).items() if k != "user_id"}), "event 1: missing_field: "),
        (b"[1, 2]", "event 1: not_an_object: "),
        (b"\xff\xfe{}", "event 1: not_utf8: "),  # sent base64-encoded, as API Gateway passes binary bodies
    ],
)
def test_a_bad_event_refuses_the_whole_request_with_parses_reason_in_one_line(
    kinesis: Any, bad: bytes, reason: str
) -> None:
    body = encode_json(_event(0)) + b"\n" + bad
    result = _call(body, header=webhook.signature(SECRET, int(time.time()), body))
    assert result["status"] == 400
    assert result["error"].startswith(reason), result["error"]
    assert _stream(kinesis) == []


def test_a_text_body_as_api_gateway_passes_json_is_accepted_too(kinesis: Any) -> None:
    from risk.ingest import webhook_handler  # noqa: PLC0415

    body = encode_json(_event(4))
    event = {
        "headers": {"x-risk-signature": webhook.signature(SECRET, int(time.time()), body)},
        "pathParameters": {"sender": SENDER},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    result = webhook_handler.lambda_handler(event, FakeLambdaContext("risk-scoring-test-webhook", 256, 10))
    assert (result["statusCode"], json.loads(result["body"])) == (200, {"accepted": 1})
    assert _stream(kinesis) == [("user-1", body)]


def test_an_empty_body_is_a_400_not_an_empty_put(kinesis: Any) -> None:
    assert _call(b"\n", header=webhook.signature(SECRET, int(time.time()), b"\n")) == {
        "status": 400,
        "error": "empty body: no event",
    }


@pytest.fixture
def api(kinesis: Any) -> Iterator[str]:
    """A local HTTP server that hands each POST to the webhook handler as API Gateway's proxy event, after
    API Gateway's own check of the method's ``api_key_required``: no known sender key, a 403."""
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

    from risk.ingest import webhook_handler  # noqa: PLC0415
    from tools.local.entry import webhook_request  # noqa: PLC0415

    class Bridge(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("x-api-key") != API_KEY:
                self.send_response(403)
                self.end_headers()
                self.wfile.write(b'{"message":"Forbidden"}')
                return
            sender = self.path.removeprefix("/dev/webhooks/")
            event = webhook_request(sender, body, self.headers.get("X-Risk-Signature"))
            result = webhook_handler.lambda_handler(event, FakeLambdaContext("risk-scoring-test-webhook", 256, 10))
            self.send_response(result["statusCode"])
            self.end_headers()
            self.wfile.write(result["body"].encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dev"
    server.shutdown()
    thread.join()


def test_riskctl_produce_http_signs_batches_that_land_on_the_stream(
    api: str, kinesis: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io  # noqa: PLC0415

    from tools.riskctl import main  # noqa: PLC0415

    lines = [encode_json(_event(i)) for i in range(7)]
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setenv("ACME_SECRET", SECRET)
    monkeypatch.setenv("RISK_WEBHOOK_API_KEY", API_KEY)  # the sender's key, as x-api-key beside the signature
    out = io.StringIO()
    args = ["produce", "--http", api, "--sender", SENDER, "--secret-env", "ACME_SECRET", "--batch", "3"]
    code = main([*args, "--file", str(tmp_path / "events.jsonl")], out=out)
    assert code == 0, out.getvalue()
    assert out.getvalue() == f"posted 7 events in 3 requests to {api}\n"
    assert [data for _, data in _stream(kinesis)] == lines


def test_riskctl_produce_http_stops_at_a_refused_batch_with_the_apis_reason(
    api: str, kinesis: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io  # noqa: PLC0415

    from tools.riskctl import main  # noqa: PLC0415

    (tmp_path / "events.jsonl").write_bytes(encode_json(_event(1)) + b"\n")
    monkeypatch.setenv("ACME_SECRET", "not-the-secret")
    monkeypatch.setenv("ACME_KEY", API_KEY)
    out = io.StringIO()
    args = ["produce", "--http", api, "--sender", SENDER, "--secret-env", "ACME_SECRET", "--api-key-env", "ACME_KEY"]
    assert main([*args, "--file", str(tmp_path / "events.jsonl")], out=out) == 1
    assert out.getvalue() == 'error: request 1 refused with 401: {"error":"signature does not match"}\n'
    assert _stream(kinesis) == []


def test_riskctl_produce_http_without_the_senders_api_key_is_refused_by_the_gateway_with_403(
    api: str, kinesis: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io  # noqa: PLC0415

    from tools.riskctl import main  # noqa: PLC0415

    (tmp_path / "events.jsonl").write_bytes(encode_json(_event(1)) + b"\n")
    monkeypatch.setenv("ACME_SECRET", SECRET)
    monkeypatch.delenv("RISK_WEBHOOK_API_KEY", raising=False)
    out = io.StringIO()
    args = ["produce", "--http", api, "--sender", SENDER, "--secret-env", "ACME_SECRET"]
    assert main([*args, "--file", str(tmp_path / "events.jsonl")], out=out) == 1
    assert out.getvalue() == 'error: request 1 refused with 403: {"message":"Forbidden"}\n'
    assert _stream(kinesis) == []
