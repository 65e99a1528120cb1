"""The reason-code dictionary (``reason_codes`` table), derived from the scorers' own code lists.

Every code a scorer can emit comes from one of four places in ``risk.score``: a rule
(``RULES``), a model feature (``FEATURE_NAMES`` through ``reason_code``), a missing input
(``MISSING_AMOUNT``/``MISSING_GEO``) or the SageMaker fallback. :func:`catalogue` reads them there,
so the dictionary cannot name a code the scorers never emit or miss one they do.
``tests/warehouse/test_reason_codes.py`` checks that the migrations insert exactly the catalogue;
when a scorer gains a code, :func:`migration_sql` writes the rows of the next migration.

Kinds keep missing inputs apart from risk reasons: ``missing_input`` codes say an input was absent
(and scored with a default), not that the event looked risky, so the reason views leave them out.
A code that is both (the model may name ``MISSING_AMOUNT`` as a feature) is a missing input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from risk.score.scorers.rules import RULES
from risk.score.scorers.sagemaker import FALLBACK_REASON
from risk.score.vector import FEATURE_NAMES, MISSING_AMOUNT, MISSING_GEO, reason_code

REASON_CODES_TABLE = "reason_codes"
MISSING_INPUT = "missing_input"
RULE = "rule"
MODEL_FEATURE = "model_feature"
SCORER = "scorer"
KINDS = (RULE, MODEL_FEATURE, MISSING_INPUT, SCORER)

# What each code means to an analyst. Keyed by code; the test fails if a code has none.
DESCRIPTIONS: dict[str, str] = {
    "IMPOSSIBLE_TRAVEL": "rule: implied travel speed since the user's last event is impossible",
    "CARD_TESTING": "rule: many tiny payments within an hour (card testing)",
    "NEW_DEVICE_HIGH_AMOUNT": "rule: a high amount from a device the user never used",
    "VELOCITY_1M": "rule: too many events within a minute",
    "VELOCITY_1H": "rule: too many events within an hour",
    "HIGH_AMOUNT": "rule: amount far above the user's usual amounts",
    "AMOUNT_SPIKE": "rule: amount z-score against the user's history is extreme",
    "NEW_COUNTRY": "rule: first event of the user from this country",
    "AMOUNT": "model: the amount itself raised the score",
    "AMOUNT_ZSCORE": "model: amount z-score against the user's history",
    "AMOUNT_RATIO": "model: amount relative to the user's mean amount",
    "SMALL_AMOUNT": "model: a very small amount (typical of card testing)",
    "COUNT_1M": "model: number of events in the last minute",
    "COUNT_1H": "model: number of events in the last hour",
    "COUNT_24H": "model: number of events in the last 24 hours",
    "AMOUNT_SUM_1H": "model: total amount in the last hour",
    "SPEED_KMH": "model: implied travel speed since the last event",
    "DISTANCE_KM": "model: distance from the last event's location",
    "NEW_DEVICE": "model: a device the user never used",
    "HOUR_OF_DAY": "model: the hour of day (UTC) is unusual",
    "GEO_FLAG": "model: the impossible-travel indicator",
    "VELOCITY_FLAG": "model: the velocity indicator",
    "NEW_DEVICE_FLAG": "model: the new-device-with-high-amount indicator",
    "HIGH_AMOUNT_FLAG": "model: the high-amount indicator",
    "HIGH_VALUE_COUNT_1H": "model: number of high-value events in the last hour",
    "SPEND_RATIO_1H": "model: the last hour's spend relative to the user's mean amount",
    "VELOCITY_RATIO_1M": "model: events in the last minute relative to the user's usual rate",
    "VELOCITY_RATIO_1H": "model: events in the last hour relative to the user's usual rate",
    "DEVICE_AGE": "model: how few of the user's events the device has been seen for",
    "COUNTRY_AGE": "model: how few of the user's events the country has been seen for",
    "SECONDS_SINCE_LAST": "model: how soon after the user's previous event this one came",
    MISSING_AMOUNT: "missing input: the event had no amount; scored with a default",
    MISSING_GEO: "missing input: the event had no location; scored with a default",
    FALLBACK_REASON: "scorer: the SageMaker endpoint failed; the bundled model scored the event",
}


@dataclass(frozen=True)
class ReasonCode:
    code: str
    kind: str
    description: str


def catalogue() -> list[ReasonCode]:
    """Every code the scorers can emit, once, with its kind (missing input first, then rule, then model)."""
    kinds: dict[str, str] = {}
    for code in (MISSING_AMOUNT, MISSING_GEO):
        kinds[code] = MISSING_INPUT
    for rule in RULES:
        kinds.setdefault(rule.code, RULE)
    for name in FEATURE_NAMES:
        kinds.setdefault(reason_code(name), MODEL_FEATURE)
    kinds.setdefault(FALLBACK_REASON, SCORER)
    missing = sorted(set(kinds) - set(DESCRIPTIONS))
    if missing:
        raise KeyError(f"reason codes without a description in DESCRIPTIONS: {missing}")
    return [ReasonCode(code, kind, DESCRIPTIONS[code]) for code, kind in sorted(kinds.items())]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def migration_sql(codes: Iterable[ReasonCode]) -> str:
    """The INSERT that adds ``codes`` to the dictionary (for a new migration file)."""
    values = ",\n".join(f"    ({_literal(c.code)}, {_literal(c.kind)}, {_literal(c.description)})" for c in codes)
    return f"INSERT INTO {REASON_CODES_TABLE} (reason_code, kind, description) VALUES\n{values};\n"
