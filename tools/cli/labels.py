"""``riskctl labels load FILE``: outcome labels from CSV or JSON Lines into ``risk_labels``.

The format follows the file name (``.csv``, else JSON Lines). Fields: ``event_id`` and/or
``user_id``, ``label`` (fraud or legit), ``source`` (e.g. chargeback, analyst), ``reported_at``
(ISO with an offset) and an optional ``note``. Every line is checked before anything is loaded;
the first bad one stops the command with its file and line number (``tools.cli.errors``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson

from risk.warehouse.labels import Label, LabelError, parse_label
from tools.cli.errors import OperatorError


def read_labels(path: Path) -> list[Label]:
    """Every label of the file, or an :class:`OperatorError` naming the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OperatorError(f"{path}: not UTF-8 text: save it as UTF-8 CSV or JSON Lines") from None
    try:
        labels = _csv(path, text) if path.suffix.lower() == ".csv" else _jsonl(path, text)
    except LabelError as exc:
        raise OperatorError(str(exc)) from None
    if not labels:
        raise OperatorError(f"{path}: no labels in the file")
    return labels


def _csv(path: Path, text: str) -> list[Label]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return []
    labels = []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        if None in row:
            raise LabelError(f"{where}: more values than the header has columns")
        labels.append(parse_label({k: v for k, v in row.items() if k}, where))
    return labels


def _jsonl(path: Path, text: str) -> list[Label]:
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise LabelError(
                f"{where}: not a JSON object (JSON Lines: one object a line; CSV files end in .csv)"
            ) from None
        if not isinstance(doc, dict):
            raise LabelError(f"{where}: not a JSON object")
        labels.append(parse_label(doc, where))
    return labels
