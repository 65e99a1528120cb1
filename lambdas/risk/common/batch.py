"""Decoding an SQS batch message by message, for Lambda's partial batch response.

The score and load handlers need only this of Powertools' ``BatchProcessor``: decode each message,
keep what decoded, and name the ones that did not (they fail alone). Importing the batch utility
costs a cold start ~40 ms (asyncio and every event data class of Powertools), about a third of
what the handlers may add to ``import boto3``; this loop costs nothing to import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Decoded(Generic[T]):
    """The messages that decoded, in batch order, and the ids of those that did not."""

    ok: list[tuple[str, T]]
    failed: list[str]


def decode_each(records: Iterable[Mapping[str, Any]], decode: Callable[[str], T]) -> Decoded[T]:
    """``decode`` each record's body; a body it raises on fails its message only, as in BatchProcessor."""
    ok: list[tuple[str, T]] = []
    failed: list[str] = []
    for record in records:
        message_id = str(record["messageId"])
        try:
            ok.append((message_id, decode(record["body"])))
        except Exception:  # any error in one body fails that message, never its neighbours
            failed.append(message_id)
    return Decoded(ok, failed)
