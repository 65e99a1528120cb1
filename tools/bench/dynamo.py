"""A DynamoDB table inside botocore, for benchmarks: the SDK's whole marshalling path, no network.

A ``before-send`` hook answers BatchGetItem and PutItem from a dict of items kept in their wire
form, after botocore has validated, serialised and signed the request and before it would go on the
network; botocore then parses the answer as it parses DynamoDB's (base64 blobs decoded, types
unwrapped). So a client of this table costs the Lambda function what a real one costs in CPU, except
the TLS and socket work. The table's own CPU (decoding requests, encoding answers) is measured
separately (``cpu_s``) so a benchmark can subtract it.

Units are counted as DynamoDB bills them (on-demand request units = provisioned capacity units):

* a write per started 1 KB of the item; a PutItem that replaces an item counts the larger of the old
  and new items; a conditional write that fails still costs its units (at least 1);
* a strongly consistent read per started 4 KB of each item returned; a key with no item costs 1.

Item size is the sum over attributes of the name's UTF-8 length plus the value's size: strings in
UTF-8, binary in raw bytes, numbers 1 byte per two significant digits plus 1
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from risk.common import aws

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
_JSON = {"content-type": "application/x-amz-json-1.0"}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "B":
        return len(base64.b64decode(v))
    if kind == "N":
        return _number_size(v)
    raise ValueError(f"attribute type {kind} is not used by the state table")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of a wire-form item as DynamoDB sizes it for billing."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def write_units(new_size: int, old_size: int = 0) -> int:
    return max(1, math.ceil(max(new_size, old_size) / WRITE_UNIT_BYTES))


def read_units(size: int) -> int:
    return max(1, math.ceil(size / READ_UNIT_BYTES))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FakeTable:
    """One table keyed by ``key`` (S); items in wire form; units and the table's own CPU counted."""

    def __init__(self, name: str, key: str = "user_id") -> None:
        self.name = name
        self.key = key
        self.items: dict[str, dict[str, Any]] = {}
        self.read_units = 0.0
        self.write_units = 0.0
        self.calls: dict[str, int] = {}
        self.cpu_s = 0.0

    def reset_counters(self) -> None:
        self.read_units = self.write_units = self.cpu_s = 0.0
        self.calls.clear()

    def client(self, region: str = "eu-west-1") -> Any:
        """A boto3 DynamoDB client, configured as the functions' (``risk.common.aws``), answered by this table."""
        session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=region)
        client = aws.client("dynamodb", session)
        client.meta.events.register("before-send.dynamodb", self._send)
        return client

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        started = time.process_time()
        operation = request.headers["X-Amz-Target"]
        if isinstance(operation, bytes):
            operation = operation.decode()
        operation = operation.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        body = json.loads(request.body)
        status, answer = getattr(self, f"_{operation}")(body)
        response = AWSResponse(request.url, status, _JSON, _Raw(json.dumps(answer).encode()))
        self.cpu_s += time.process_time() - started
        return response

    def _BatchGetItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802 (operation name)
        found = []
        for key in body["RequestItems"][self.name]["Keys"]:
            item = self.items.get(key[self.key]["S"])
            self.read_units += read_units(item_size(item)) if item else 1
            if item is not None:
                found.append(item)
        return 200, {"Responses": {self.name: found}, "UnprocessedKeys": {}}

    def _PutItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802 (operation name)
        item = body["Item"]
        uid = item[self.key]["S"]
        old = self.items.get(uid)
        self.write_units += write_units(item_size(item), item_size(old) if old else 0)
        condition = body.get("ConditionExpression", "")
        if condition.startswith("attribute_not_exists"):
            ok = old is None
        elif condition:
            expected = body["ExpressionAttributeValues"][":v"]["N"]
            ok = old is not None and old["version"]["N"] == expected
        else:
            ok = True
        if not ok:
            return 400, {
                "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                "message": "The conditional request failed",
            }
        self.items[uid] = item
        return 200, {}
