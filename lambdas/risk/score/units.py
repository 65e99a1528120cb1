"""DynamoDB capacity units as DynamoDB bills them, from the real items (names + values).

Why here: the state stores count what they consume (``read_units``, ``write_units``) so the
benchmarks and the cost model read billed figures, not estimates of the state's size.
Rules (DynamoDB developer guide, "Item sizes" and "Capacity unit consumption"):

* an item's size is the UTF-8 length of every attribute name plus its value: S by its UTF-8
  length, B by its byte length, N by ~1 byte per two significant digits plus 1;
* a write costs 1 unit per started KB of the larger of the item before and after (PutItem);
  a refused conditional write still costs at least 1;
* a read costs 1 unit per started 4 KB (strongly consistent), half of that eventually
  consistent; a key that is not found still costs the minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

WRITE_UNIT_BYTES = 1_024
READ_UNIT_BYTES = 4_096


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number: its significant digits, two to a byte, plus one."""
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "B":
        return len(v)
    if kind == "N":
        return number_size(v)
    if kind in ("BOOL", "NULL"):
        return 1
    raise ValueError(f"attribute type {kind!r} is not used by the state items")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Size of an item in the low-level wire form ``{name: {type: value}}``."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, previous_size: int = 0) -> float:
    return float(max(1, math.ceil(max(size, previous_size) / WRITE_UNIT_BYTES)))


def read_units(size: int, *, consistent: bool = True) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
