"""Constant-time replacements for two moto 5.2 Kinesis helpers that are linear in the shard's size.

moto's ``Shard.get_max_sequence_number`` builds a list of every key on each PutRecord, so putting
100,000 records takes minutes (quadratic). The replacements return exactly the same values (the
records dict is ordered by sequence number) in O(1). Local runs and tests only.
"""

from __future__ import annotations

from typing import Any

from moto.kinesis.models import Shard

_applied = False


def _max_sequence_number(self: Any) -> int:
    return next(reversed(self.records)) if self.records else 0


def _min_sequence_number(self: Any) -> int:
    return next(iter(self.records)) if self.records else 0


def apply() -> None:
    """Idempotent."""
    global _applied  # noqa: PLW0603
    if not _applied:
        Shard.get_max_sequence_number = _max_sequence_number  # type: ignore[method-assign]
        Shard.get_min_sequence_number = _min_sequence_number  # type: ignore[method-assign]
        _applied = True
