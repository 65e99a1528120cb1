"""Every limit an event meets downstream, declared once in the contract layer.

The validator enforces these on the canonical event (normalised, then re-encoded with ``orjson`` as
every stage does), so an event that passes validation fits every queue, encoder and column after it.
The stages and the warehouse read the same names: ``risk.common.envelope`` (message size, SQS's
character set), ``risk.warehouse.columns`` (column widths, checked against the DDL by a test),
``risk.score.features`` (the 24 h sums). Nothing here imports anything: any layer may read it.
"""

from __future__ import annotations

import re
from types import MappingProxyType

# -- input -------------------------------------------------------------------------------------
MAX_EVENT_BYTES = 64 * 1024  # one Kinesis record as the producer sent it
MAX_ID_LENGTH = 64  # event_id and user_id, in UTF-8 bytes (= the VARCHAR(64) columns)

# -- risk_events text columns: VARCHAR(n) counts BYTES in Redshift -----------------------------
# The DDL in redshift_schema/ must declare exactly these (tests/warehouse/test_column_widths.py).
COLUMN_BYTES: MappingProxyType[str, int] = MappingProxyType(
    {
        "event_id": MAX_ID_LENGTH,
        "user_id": MAX_ID_LENGTH,
        "event_type": 32,
        "channel": 16,
        "currency": 3,
        "country": 2,
        "merchant_id": 64,
        "ip_key": 128,  # HMAC hex of the ip, device id and email: fixed width, never near it
        "device_key": 128,
        "email_key": 128,
        "risk_band": 8,
        "model_version": 64,
    }
)
# Fields that are not columns themselves (hashed, or only in metadata) still have byte limits.
MAX_DEVICE_ID_BYTES = 128
MAX_EMAIL_BYTES = 254  # RFC 5321 path limit
MAX_IP_CHARS = 64  # longest IPv6 text with a zone id, with room

# -- SUPER columns (metadata, reason_codes) ----------------------------------------------------
# The loader stages SUPER values as VARCHAR(65535) JSON text before JSON_PARSE: the canonical JSON
# of a SUPER value (orjson, UTF-8 bytes) must fit that staging column.
SUPER_STAGING_BYTES = 65535

# -- JSON nesting ------------------------------------------------------------------------------
# orjson refuses to serialise deeper than 254 levels. The event travels inside envelopes: parse
# body {"v","items":[event]} puts the event at level 3, the score body {"items":[{"event":...}]}
# at level 4, and metadata is one more level. 64 levels for the whole event (the event object is
# level 1) leaves 190 levels of margin for any wrapper, and no real metadata comes near it.
MAX_JSON_DEPTH = 64

# -- amounts -----------------------------------------------------------------------------------
# amount is DECIMAL(18, 4): below 10^14. The contract allows up to 10^12.
MAX_AMOUNT = 1e12
# amount_sum_1m/1h/24h are DECIMAL(20, 4): below 10^16. A user can send more than 10^4 events of
# the maximum amount in 24 h; the state's history bound keeps a window near 10^15 today, and the
# sums saturate at this value whatever the state does (risk.score.features.amount_sum).
# 10^16 - 2 is the largest double below 10^16 (doubles there are 2 apart), so the clamped value
# still renders as a number the column takes.
MAX_AMOUNT_SUM = 1e16 - 2

# -- time --------------------------------------------------------------------------------------
EARLIEST_YEAR = 1970  # occurred_at must be in [1970-01-01, 2100-01-01) UTC
LATEST_YEAR = 2100
# Default clock-skew tolerance for future timestamps; each environment sets its own in cdk.json
# (``clock_skew_tolerance_s``), passed to the parse function as CLOCK_SKEW_TOLERANCE_S.
DEFAULT_CLOCK_SKEW_TOLERANCE_S = 300

# -- SQS ---------------------------------------------------------------------------------------
SQS_MESSAGE_BYTES = 256 * 1024  # SQS's limit per message and per SendMessageBatch call
MAX_BODY_BYTES = 240 * 1024  # what the envelope packs up to: headroom below SQS's limit
MAX_BATCH_BYTES = 250 * 1024  # bodies per SendMessageBatch call
MAX_BATCH_ENTRIES = 10
# SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF in a body; the
# class below is its complement, written out: the negated class costs every cold start ~4 ms to compile.
SQS_REFUSED_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The canonical event bound: metadata <= SUPER_STAGING_BYTES plus every other field at its limit
# (tests/parse/test_limits.py builds the widest event and checks it). The envelope may escape
# characters (at most doubling their bytes) and the score stage adds features: the largest valid
# event, escaped, still fits one message.
MAX_EVENT_FIELDS_BYTES = 8 * 1024
