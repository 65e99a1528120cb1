"""Log-safe details: the field and the rule, never a value the record carried."""

from __future__ import annotations

import pytest

from risk.common.redact import MASK, log_safe


@pytest.mark.parametrize(
    ("detail", "logged"),
    [
        ("country 'ZZ' is not an ISO 3166-1 alpha-2 code", f"country {MASK} is not an ISO 3166-1 alpha-2 code"),
        ('channel "we\\"b" is not one of web, app', f"channel {MASK} is not one of web, app"),
        (
            "occurred_at is not a valid instant: Invalid isoformat string: 'jane@example.com'",
            "occurred_at is not a valid instant",
        ),
        ("SchemaResolutionError: user_id jane@example.com is not a string", "SchemaResolutionError"),
        ("amount must be between 0 and 1000000", "amount must be between 0 and 1000000"),
        ("", ""),
    ],
)
def test_log_safe_keeps_the_rule_and_drops_the_value(detail: str, logged: str) -> None:
    assert log_safe(detail) == logged


def test_log_safe_is_bounded() -> None:
    assert len(log_safe("x" * 10_000)) == 160
