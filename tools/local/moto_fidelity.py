"""Make moto's SQS refuse what real SQS refuses: a body with a character outside SQS's set.

moto accepts any body; SQS answers ``InvalidMessageContents`` for U+FFFE, U+FFFF, raw C0 controls
and lone surrogates (``risk.events.limits.SQS_REFUSED_CHARACTERS``). Without this a local run could
never show an event that passes validation and then cannot be sent. Local runs and tests only.
"""

from __future__ import annotations

from typing import Any

from moto.sqs.exceptions import SQSException
from moto.sqs.models import SQSBackend

from risk.events.limits import SQS_REFUSED_CHARACTERS

_applied = False


class InvalidMessageContents(SQSException):
    code = "InvalidMessageContents"

    def __init__(self) -> None:
        super().__init__("Invalid binary character in the message body: see the SQS character set.")


def apply() -> None:
    """Idempotent: wraps ``SQSBackend._validate_message`` (used by SendMessage and SendMessageBatch)."""
    global _applied  # noqa: PLW0603
    if _applied:
        return
    original = SQSBackend._validate_message

    def validate(self: Any, queue: Any, message_body: str, *args: Any, **kwargs: Any) -> None:
        if SQS_REFUSED_CHARACTERS.search(message_body):
            raise InvalidMessageContents()
        original(self, queue, message_body, *args, **kwargs)

    SQSBackend._validate_message = validate  # type: ignore[method-assign]
    _applied = True
