"""Outcome labels (``risk_labels``): what one label is, and loading a set of them idempotently.

A label says an event, or a whole user, turned out ``fraud`` or ``legit``, as reported by a
``source`` (a chargeback feed, an analyst's decision, a customer's report) at ``reported_at``. The
key is (subject, event_id or user_id, source): one current label per subject and source. Loading
the same labels again changes nothing; a newer report from the same source replaces the older
one, an older one is ignored. An event label may leave out its user: the load finds it in
``risk_events`` (labels are distributed by user_id, like the events they describe).

The whole load is one transaction that first takes ``LOCK risk_labels``, so two loads of
overlapping files cannot both insert a key (Redshift never enforces a key; see loader.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from risk.events.limits import MAX_ID_LENGTH
from risk.warehouse.connection import Warehouse

LABELS_TABLE = "risk_labels"
LABELS = ("fraud", "legit")
SUBJECT_EVENT = "event"
SUBJECT_USER = "user"
MAX_SOURCE_BYTES = 32  # risk_labels.source VARCHAR(32)
MAX_NOTE_BYTES = 256  # risk_labels.note VARCHAR(256)
_SOURCE = re.compile(r"^[a-z][a-z0-9_]*$")
STAGE = "risk_labels_stage"
_FIELDS = ("subject", "event_id", "user_id", "label", "source", "reported_at", "note")


class LabelError(ValueError):
    """A label that cannot be loaded; the message names where it came from and what to fix."""


@dataclass(frozen=True)
class Label:
    event_id: str | None  # None: the label is about the whole user
    user_id: str | None  # None on an event label: found in risk_events at load time
    label: str
    source: str
    reported_at: datetime  # UTC
    note: str | None = None

    @property
    def subject(self) -> str:
        return SUBJECT_EVENT if self.event_id is not None else SUBJECT_USER

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject, self.event_id or self.user_id or "", self.source)


def _text(doc: dict[str, object], name: str, where: str, limit: int) -> str | None:
    value = doc.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise LabelError(f"{where}: {name} must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value.encode()) > limit:
        raise LabelError(f"{where}: {name} is longer than {limit} bytes")
    return value


def parse_label(doc: dict[str, object], where: str) -> Label:
    """One label from a CSV row or a JSON object; ``where`` (file and line) starts every error."""
    unknown = sorted(set(doc) - {"event_id", "user_id", "label", "source", "reported_at", "note"})
    if unknown:
        raise LabelError(
            f"{where}: unknown field {unknown[0]!r} (fields: event_id, user_id, label, source, reported_at, note)"
        )
    event_id = _text(doc, "event_id", where, MAX_ID_LENGTH)
    user_id = _text(doc, "user_id", where, MAX_ID_LENGTH)
    if event_id is None and user_id is None:
        raise LabelError(f"{where}: give an event_id (a label on one event) or a user_id (on the whole user)")
    label = _text(doc, "label", where, 16)
    if label not in LABELS:
        raise LabelError(f"{where}: label {label!r} is not one of {', '.join(LABELS)}")
    source = _text(doc, "source", where, MAX_SOURCE_BYTES)
    if source is None or not _SOURCE.match(source):
        raise LabelError(f"{where}: source {source!r} must be lower_snake_case, e.g. chargeback or analyst")
    reported = _text(doc, "reported_at", where, 64)
    if reported is None:
        raise LabelError(f"{where}: reported_at is missing (an ISO time with an offset, e.g. 2026-11-24T10:00Z)")
    try:
        reported_at = datetime.fromisoformat(reported.replace("Z", "+00:00"))
    except ValueError:
        raise LabelError(f"{where}: reported_at {reported!r} is not an ISO time, e.g. 2026-11-24T10:00Z") from None
    if reported_at.tzinfo is None:
        raise LabelError(f"{where}: reported_at {reported!r} has no offset: add Z or +HH:MM")
    note = _text(doc, "note", where, MAX_NOTE_BYTES)
    return Label(event_id, user_id, label, source, reported_at.astimezone(UTC), note)


def newest_per_key(labels: Iterable[Label]) -> list[Label]:
    """One label per key: the newest report (the later one in the input on a tie)."""
    kept: dict[tuple[str, str, str], Label] = {}
    for label in labels:
        current = kept.get(label.key)
        if current is None or label.reported_at >= current.reported_at:
            kept[label.key] = label
    return list(kept.values())


@dataclass(frozen=True)
class LabelLoad:
    given: int  # labels in the input
    inserted: int  # new or replacing rows
    replaced: int  # older rows the input replaced
    unchanged: int  # already loaded as given, or older than what is loaded


CREATE_STAGE = f"""
CREATE TEMP TABLE {STAGE} (
    subject     VARCHAR(8),
    event_id    VARCHAR(64),
    user_id     VARCHAR(64),
    label       VARCHAR(16),
    source      VARCHAR(32),
    reported_at TIMESTAMP,
    note        VARCHAR(256)
)
"""
STAGE_ROW = f"INSERT INTO {STAGE} ({', '.join(_FIELDS)}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
FIND_USERS = (
    f"UPDATE {STAGE} SET user_id = risk_events.user_id FROM risk_events "
    f"WHERE {STAGE}.user_id IS NULL AND {STAGE}.event_id = risk_events.event_id"
)
UNKNOWN_EVENTS = f"SELECT event_id FROM {STAGE} WHERE user_id IS NULL ORDER BY event_id LIMIT 5"
_SAME_KEY = (
    f"{LABELS_TABLE}.subject = {STAGE}.subject AND {LABELS_TABLE}.user_id = {STAGE}.user_id "
    f"AND COALESCE({LABELS_TABLE}.event_id, '') = COALESCE({STAGE}.event_id, '') "
    f"AND {LABELS_TABLE}.source = {STAGE}.source"
)
REPLACE_OLDER = (
    f"DELETE FROM {LABELS_TABLE} USING {STAGE} WHERE {_SAME_KEY} AND ({LABELS_TABLE}.reported_at < {STAGE}.reported_at "
    f"OR ({LABELS_TABLE}.reported_at = {STAGE}.reported_at AND ({LABELS_TABLE}.label <> {STAGE}.label "
    f"OR COALESCE({LABELS_TABLE}.note, '') <> COALESCE({STAGE}.note, ''))))"
)
INSERT_NEW = (
    f"INSERT INTO {LABELS_TABLE} ({', '.join(_FIELDS)}, loaded_at) "
    f"SELECT {', '.join(_FIELDS)}, GETDATE() FROM {STAGE} "
    f"WHERE NOT EXISTS (SELECT 1 FROM {LABELS_TABLE} WHERE {_SAME_KEY})"
)
DROP_STAGE = f"DROP TABLE {STAGE}"


def load_labels(warehouse: Warehouse, labels: Sequence[Label]) -> LabelLoad:
    """Load ``labels`` in one transaction under ``LOCK risk_labels``; nothing is kept if one fails."""
    rows = newest_per_key(labels)
    with warehouse.transaction():
        warehouse.execute(f"LOCK {LABELS_TABLE}")
        warehouse.execute(CREATE_STAGE)
        if rows:
            warehouse.executemany(
                STAGE_ROW,
                [
                    (r.subject, r.event_id, r.user_id, r.label, r.source, r.reported_at.replace(tzinfo=None), r.note)
                    for r in rows
                ],
            )
        warehouse.execute(FIND_USERS)
        unknown = [str(row[0]) for row in warehouse.fetchall(UNKNOWN_EVENTS)]
        if unknown:
            raise LabelError(
                f"event {', '.join(unknown)} not in risk_events: give the user_id of labels on events not loaded (yet)"
            )
        replaced = warehouse.execute(REPLACE_OLDER)
        inserted = warehouse.execute(INSERT_NEW)
        warehouse.execute(DROP_STAGE)
    return LabelLoad(given=len(labels), inserted=inserted, replaced=replaced, unchanged=len(rows) - inserted)
