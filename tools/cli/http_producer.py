"""``riskctl produce --http``: events to the HTTPS API, as JSON Lines batches over TLS.

With a sender, each batch goes to ``POST <api>/webhooks/<sender>`` signed as the webhook function
checks it (``risk.ingest.webhook.signature``), with the sender's API key as ``x-api-key`` (the key of
its usage plan, which throttles it); without one, to ``POST <api>/events`` signed with SigV4
(the method is IAM-authorised). A batch stays within the function's body limit; a refused batch stops
the run with the API's one-line reason.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from risk.ingest.webhook import MAX_BODY_BYTES, signature


class HttpRefusedError(RuntimeError):
    """The API refused a batch (its status and reason); the batches before it were accepted."""


def batches(records: Iterable[bytes], size: int) -> Iterator[bytes]:
    """JSON Lines bodies of at most ``size`` records and :data:`MAX_BODY_BYTES` (a record alone may be larger)."""
    lines: list[bytes] = []
    total = 0
    for record in records:
        if lines and (len(lines) == size or total + len(record) + 1 > MAX_BODY_BYTES):
            yield b"\n".join(lines) + b"\n"
            lines, total = [], 0
        lines.append(record)
        total += len(record) + 1
    if lines:
        yield b"\n".join(lines) + b"\n"


def _sigv4_headers(session: Any, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415

    credentials = session.get_credentials()
    if credentials is None:
        raise HttpRefusedError("POST /events is IAM-authorised: no AWS credentials found")
    region = session.region_name or urlsplit(url).hostname.split(".")[2]  # type: ignore[union-attr]
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def post_batches(
    api_url: str,
    records: Iterable[bytes],
    *,
    sender: str | None,
    secret: str | None,
    api_key: str | None = None,
    session: Any = None,
    batch: int = 100,
    timeout_s: float = 30.0,
) -> tuple[int, int]:
    """(events accepted, requests made); raises :class:`HttpRefusedError` on the first refused batch."""
    if not api_url.startswith("https://") and not api_url.startswith("http://127.0.0.1"):
        raise HttpRefusedError(f"{api_url}: the API is HTTPS only")
    base = api_url.rstrip("/")
    url = f"{base}/webhooks/{quote(sender, safe='')}" if sender else f"{base}/events"
    sent = requests = 0
    for body in batches(records, batch):
        headers = {"Content-Type": "application/x-ndjson"}
        if sender:
            assert secret is not None
            headers["X-Risk-Signature"] = signature(secret, int(time.time()), body)
            if api_key:
                headers["x-api-key"] = api_key
        else:
            headers = _sigv4_headers(session, url, body, headers)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        requests += 1
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                accepted = response.read()
        except urllib.error.HTTPError as exc:
            reason = exc.read().decode("utf-8", "replace").strip().replace("\n", " ")[:300]
            raise HttpRefusedError(f"request {requests} refused with {exc.code}: {reason}") from None
        except urllib.error.URLError as exc:
            raise HttpRefusedError(f"{url}: {exc.reason}") from None
        sent += int(json.loads(accepted)["accepted"])
    return sent, requests
