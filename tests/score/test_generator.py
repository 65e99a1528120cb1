"""The labelled generator: deterministic, in the producer contract, every fraud pattern present."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime

from risk.events.limits import MAX_ID_LENGTH
from risk.events.model import CHANNELS, EVENT_TYPES
from tools.generator import HIGH_VOLUME, NORMAL, PATTERNS, V1_PATTERNS, generate

REQUIRED = ("event_id", "user_id", "event_type", "occurred_at")
OPTIONAL = {"schema_version", "amount", "currency", "ip", "geo", "country", "device_id", "merchant_id", "channel",
            "email", "metadata"}  # fmt: skip
V1_FIRST_ID, V1_LAST_ID = "a8585b95-1bde-4319-a5e3-69b37858b307", "a55364f9-b3dd-4e10-88e8-488164009c84"


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, b, c = generate(2_000, seed=5), generate(2_000, seed=5), generate(2_000, seed=6)
    assert [g.event for g in a] == [g.event for g in b]
    assert [g.event for g in a] != [g.event for g in c]


def test_events_follow_the_contract() -> None:
    events = generate(3_000, seed=1)
    assert len(events) == 3_000
    assert [g.ts for g in events] == sorted(g.ts for g in events)
    assert len({g.event["event_id"] for g in events}) == 3_000
    for g in events:
        e = g.event
        assert all(isinstance(e[k], str) and 0 < len(e[k]) <= MAX_ID_LENGTH for k in REQUIRED[:2])
        assert e["event_type"] in EVENT_TYPES
        assert set(e) - set(REQUIRED) <= OPTIONAL
        assert "label" not in e and "pattern" not in e
        at = datetime.fromisoformat(e["occurred_at"])
        assert (at.utcoffset() is not None and at.timestamp() == g.ts // 0.001 * 0.001) or abs(
            at.timestamp() - g.ts
        ) < 1e-3
        if "amount" in e:
            assert e["amount"] >= 0 and len(e["currency"]) == 3 and e["currency"].isupper()
        if "geo" in e:
            assert -90 <= e["geo"]["lat"] <= 90 and -180 <= e["geo"]["lon"] <= 180
        assert e["channel"] in CHANNELS and len(e["country"]) == 2
        risk = g.as_risk_event()
        assert risk.occurred_at.tzinfo is not None and risk.event_id == e["event_id"]


def test_every_fraud_pattern_is_injected_and_labelled() -> None:
    events = generate(20_000, seed=2, fraud_rate=0.05)
    by_pattern = Counter(g.pattern for g in events)
    assert set(by_pattern) == {NORMAL, HIGH_VOLUME, *PATTERNS}
    assert all(g.label == (g.pattern not in (NORMAL, HIGH_VOLUME)) for g in events)
    fraud_share = sum(g.label for g in events) / len(events)
    assert 0.04 <= fraud_share <= 0.06
    assert generate(500, seed=2, fraud_rate=0.0) and not any(g.label for g in generate(500, seed=2, fraud_rate=0.0))
    assert generate(0) == []


def test_high_volume_accounts_send_their_share_at_a_steady_pace_of_a_few_seconds() -> None:
    events = generate(20_000, seed=3, high_volume_share=0.05)
    accounts: dict[str, list[float]] = {}
    for g in events:
        if g.pattern == HIGH_VOLUME:
            accounts.setdefault(g.event["user_id"], []).append(g.ts)
    assert sum(len(ts) for ts in accounts.values()) == 1_000 and len(accounts) == 1
    for ts in accounts.values():
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert min(gaps) >= 3.0 * 0.7 and max(gaps) <= 15.0 * 1.3  # every few seconds, never a burst
    assert not any(g.pattern == HIGH_VOLUME for g in generate(2_000, seed=3, high_volume_share=0.0))


def test_the_v1_patterns_without_high_volume_accounts_give_the_events_lr_v1_was_trained_on() -> None:
    # Pinned from the generator before issue 15 (commit f299cc2): lr-v1's reproduction depends on it.
    events = generate(2_000, seed=5, patterns=V1_PATTERNS, high_volume_share=0.0)
    assert {g.pattern for g in events} == {NORMAL, *V1_PATTERNS}
    assert events[0].event["event_id"] == V1_FIRST_ID and events[-1].event["event_id"] == V1_LAST_ID
