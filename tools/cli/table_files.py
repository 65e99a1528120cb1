"""Reading the files operators load into warehouse tables (``riskctl labels load``, ``riskctl fx load``).

The format follows the file name (``.csv``, else JSON Lines). Every line is parsed before anything
is loaded; the first bad one stops the command with its file and line number (``tools.cli.errors``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson

from tools.cli.errors import OperatorError

T = TypeVar("T")
Parse = Callable[[dict[str, object], str], T]  # (fields, "<file> line <n>") -> a row; raises ValueError


def read_rows(path: Path, parse: Parse[T], what: str) -> list[T]:
    """Every row of the file, or an :class:`OperatorError` naming the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OperatorError(f"{path}: not UTF-8 text: save it as UTF-8 CSV or JSON Lines") from None
    try:
        rows = _csv(path, text, parse) if path.suffix.lower() == ".csv" else _jsonl(path, text, parse)
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    if not rows:
        raise OperatorError(f"{path}: no {what} in the file")
    return rows


def _csv(path: Path, text: str, parse: Parse[T]) -> list[T]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return []
    rows = []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        if None in row:
            raise ValueError(f"{where}: more values than the header has columns")
        rows.append(parse({k: v for k, v in row.items() if k}, where))
    return rows


def _jsonl(path: Path, text: str, parse: Parse[T]) -> list[T]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ValueError(
                f"{where}: not a JSON object (JSON Lines: one object a line; CSV files end in .csv)"
            ) from None
        if not isinstance(doc, dict):
            raise ValueError(f"{where}: not a JSON object")
        rows.append(parse(doc, where))
    return rows
