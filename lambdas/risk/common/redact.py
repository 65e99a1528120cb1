"""What a log line may say about a rejected value: its field and the rule it broke, never the value.

Validation and parser details are written for the quarantine object (S3, archive key, expiring with
``quarantine/``), where the record itself is kept anyway. Logs are read more widely and kept apart
from that lifecycle, so they carry :func:`log_safe` of the detail: every quoted literal is replaced
by a fixed mask, and anything after the first ``": "`` (an exception's own text, which may quote
the input unquoted, e.g. an Avro or ISO-8601 parser's message) is dropped.

Powertools' data-masking utility is not used here: the details are prose, not structured fields,
and importing it needs ``jsonpath-ng``, which the functions' dependencies layer does not carry.
"""

from __future__ import annotations

import re

_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""", re.S)
_MAX_LOGGED = 160
MASK = "*****"  # what Powertools' data masking writes for an erased value


def log_safe(detail: str) -> str:
    """``detail`` without the values it quotes or the text of the exception it wraps."""
    head = detail.split(": ", 1)[0]
    return _QUOTED.sub(MASK, head)[:_MAX_LOGGED]
