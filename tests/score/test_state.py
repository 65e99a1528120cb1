"""The per-user state: windows, history-as-of-time, idempotency, order independence, bounds."""

from __future__ import annotations

import random
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.events.model import RiskEvent
from risk.score import layout
from risk.score import state as state_mod
from risk.score.features import SPEED_CAP_KMH
from risk.score.model import Features
from risk.score.service import update_state
from risk.score.state import HISTORY_SECONDS, UserState, apply_batch, replay
from risk.score.store import InMemoryStateStore
from tests.score.conftest import LONDON, PARIS, T0, event


def run(
    events: list[RiskEvent], states: dict[str, UserState] | None = None
) -> tuple[list[Features], dict[str, UserState]]:
    states = dict(states or {})
    result = apply_batch(states, events)
    states.update(result.states)
    return result.features, states


def test_windows_and_amount_statistics_worked_numbers() -> None:
    times_amounts = [(0, 10.0), (30, 20.0), (60, 30.0), (3_000, 40.0), (3_700, 50.0), (90_000, 60.0)]
    feats, _ = run([event(t, amount=a) for t, a in times_amounts])
    f0, _, f60, f3000, f3700, f90000 = feats
    assert (f0.count_1m, f0.count_1h, f0.count_24h, f0.amount_sum_24h) == (1, 1, 1, 10.0)
    assert f0.amount_zscore is None and f0.amount_ratio is None and f0.seconds_since_last is None
    # 1-minute window [0, 60]: both ends count, the event itself included.
    assert (f60.count_1m, f60.amount_sum_1m) == (3, 60.0)
    assert (f3000.count_1m, f3000.amount_sum_1m, f3000.count_1h, f3000.amount_sum_1h) == (1, 40.0, 4, 100.0)
    # Priors 10, 20, 30: mean 20, std 10.
    assert f3000.amount_zscore == pytest.approx(2.0)
    assert f3000.amount_ratio == pytest.approx(2.0)
    assert (f3700.count_1h, f3700.amount_sum_1h, f3700.count_24h, f3700.amount_sum_24h) == (2, 90.0, 5, 150.0)
    assert f3700.seconds_since_last == 700.0
    assert (f90000.count_1h, f90000.count_24h, f90000.amount_sum_24h) == (1, 2, 110.0)
    assert f90000.amount_ratio == pytest.approx(60.0 / 30.0)
    assert [f.hour_of_day for f in feats] == [12, 12, 12, 12, 13, 13]


def test_distance_speed_and_impossible_travel() -> None:
    feats, _ = run(
        [
            event(0, geo=PARIS),
            event(1_800, geo=LONDON),  # 343.56 km in 30 min: a fast train, not impossible
            event(2_400, geo=None),  # no location: skipped when looking for the last one
            event(2_400 + 1_200, geo=PARIS),  # back to Paris 30 min after London: 687 km/h
            # and London again 10 min later: 2061 km/h (ids fixed: at one instant, (time, id key) orders them)
            event(3_600 + 600, geo=LONDON, event_id="london-again"),
            event(4_200, geo=PARIS, event_id="same-instant"),  # same instant, other city: capped
        ]
    )
    first, to_london, no_geo, back, again, instant = feats
    assert first.distance_km is None and first.speed_kmh is None and not first.geo_flag
    assert to_london.distance_km == pytest.approx(343.56, abs=0.05)
    assert to_london.speed_kmh == pytest.approx(to_london.distance_km * 2)
    assert not to_london.geo_flag
    assert no_geo.distance_km is None and no_geo.speed_kmh is None
    assert back.speed_kmh == pytest.approx(687.1, abs=0.2) and not back.geo_flag
    assert again.speed_kmh == pytest.approx(2_061.4, abs=0.5) and again.geo_flag
    assert instant.speed_kmh == SPEED_CAP_KMH and instant.geo_flag


def test_last_location_is_the_nearest_earlier_event_by_time_not_by_arrival() -> None:
    _, states = run([event(0, geo=PARIS), event(3_600, geo=LONDON)])
    late = event(1_800, geo=PARIS)
    feats, _ = run([late], states)
    assert feats[0].distance_km == 0.0  # compared with Paris at t=0, not London at t=3600
    assert feats[0].seconds_since_last == 1_800.0


def test_new_device_and_country_are_relative_to_an_established_profile() -> None:
    first = event(0, device="dev-a", country="FR")
    new_dev = event(60, device="dev-b", country="FR", amount=100.0)
    known = event(120, device="dev-b", country="DE")
    feats, states = run([first, new_dev, known])
    assert not feats[0].new_device and not feats[0].new_country  # nothing to compare with yet
    assert feats[1].new_device and not feats[1].new_country
    assert feats[1].new_device_flag  # 100 is at least twice the user's mean of 20
    assert not feats[2].new_device and feats[2].new_country
    # Redelivered: still new (as of its time), though the device is known by now.
    again, _ = run([new_dev], states)
    assert again == [feats[1]]


def test_first_seen_is_by_stream_order_and_a_redelivery_keeps_its_first_answer() -> None:
    later = event(600, device="dev-b")
    feats, states = run([event(0, device="dev-a"), later])
    assert feats[1].new_device
    earlier = event(300, device="dev-b")  # earlier in time, but after on the stream
    feats_earlier, states = run([earlier], states)
    assert not feats_earlier[0].new_device  # dev-b arrived before it
    recomputed, _ = run([earlier], states)  # an SQS redelivery: of the user's last batch
    assert recomputed == feats_earlier  # as of its arrival, not of the state now
    resent = apply_batch(states, [later, earlier])  # a producer's re-send of an older batch's event
    assert resent.duplicates == [True, True] and resent.states == {}
    assert resent.features[1] == feats_earlier[0]
    assert resent.features[0].count_24h == 3  # scored as of now: not counted, flagged a duplicate


def test_duplicates_do_not_count_twice_and_get_identical_features() -> None:
    events = [event(t, amount=10.0 * (t + 1)) for t in range(5)]
    first = apply_batch({}, events)
    assert not any(first.duplicates)
    redelivered = apply_batch(first.states, [events[3], events[3], events[1]])
    assert redelivered.duplicates == [True, True, True]
    assert redelivered.features == [first.features[3], first.features[3], first.features[1]]
    assert redelivered.states == {}  # nothing to write
    within = apply_batch({}, [*events, events[2]])
    assert within.duplicates == [False] * 5 + [True]
    assert within.features[5] == within.features[2] and within.features[4].count_1m == 5


def test_crash_after_state_write_redelivery_recomputes_the_same_features() -> None:
    """The function wrote the state, then died before sending: the retry must forward the same features."""
    events = [event(t * 7.0, amount=5.0 + t, geo=PARIS if t % 2 else LONDON) for t in range(8)]
    stored = {"u-1": UserState.from_bytes("u-1", UserState("u-1").to_bytes(), 0)}
    first = apply_batch(stored, events)
    blob = first.states["u-1"].to_bytes()  # what reached DynamoDB
    reloaded = {"u-1": UserState.from_bytes("u-1", blob, 1)}
    retry = apply_batch(reloaded, list(reversed(events)))  # SQS may also reorder
    assert all(retry.duplicates)
    assert retry.features == first.features[::-1]


def test_batches_are_applied_in_stream_order_not_resorted() -> None:
    events = [event(t) for t in (20, 0, 30, 10)]  # the stream's order, late events included
    together = apply_batch({}, events).features
    one_by_one, _ = replay(events, batch_size=1)
    assert together == one_by_one
    assert together[1].count_1m == 1  # t=0 arrived after t=20: t=20 is later in time, not in its window


def test_apply_batch_is_pure_unless_told_the_states_are_owned() -> None:
    _, states = run([event(0)])
    before = states["u-1"].to_bytes()
    apply_batch(states, [event(10)])
    assert states["u-1"].to_bytes() == before
    apply_batch(states, [event(20)], owned=True)
    assert states["u-1"].to_bytes() != before


# ------------------------------------------------------- the invariant: stream order decides (property)
@st.composite
def fifo_deliveries(draw: st.DrawFn) -> tuple[list[RiskEvent], list[tuple[list[RiskEvent], int]]]:
    """A stream of two users (late events and duplicates included, over 2.5 days so the history folds),
    cut into batches anywhere; after a batch, a crash may redeliver the tail of that batch first in
    the next one (what FIFO does after a crash between the state write and the send)."""
    n = draw(st.integers(1, 24))
    events = [
        event(
            draw(st.floats(0, 216_000, allow_nan=False)),
            user=draw(st.sampled_from(("u-a", "u-b"))),
            event_id=f"e{k:02d}",
            amount=draw(st.one_of(st.none(), st.sampled_from((0.5, 3.0, 20.0, 99.99, 1_500.0)))),
            geo=draw(st.sampled_from((None, PARIS, LONDON))),
            device=draw(st.sampled_from((None, "d1", "d2", "d3"))),
            country=draw(st.sampled_from((None, "FR", "GB"))),
        )
        for k in range(n)
    ]
    stream = events + draw(st.lists(st.sampled_from(events), max_size=4))  # the producer sent some twice
    rnd = draw(st.randoms(use_true_random=False))
    rnd.shuffle(stream)
    batches: list[tuple[list[RiskEvent], int]] = []  # (batch, how many of its last events a crash redelivers)
    k = 0
    while k < len(stream):
        size = draw(st.integers(1, 6))
        batch = stream[k : k + size]
        batches.append((batch, draw(st.integers(0, len(batch)))))
        k += size
    return stream, batches


@settings(max_examples=150, deadline=None)
@given(fifo_deliveries())
def test_same_stream_order_gives_the_same_features_whatever_batches_and_redeliveries(
    case: tuple[list[RiskEvent], list[tuple[list[RiskEvent], int]]],
) -> None:
    """Through the real layout (chunks and id segments of two entries, so both are exercised): every
    event's features are those of one-at-a-time delivery, and a crash's redelivery gets the features
    first sent. A producer's re-send is flagged a duplicate (its features are as of now; the loader
    keeps the first row of an event)."""
    stream, batches = case
    expected_features, expected_states = replay(stream, batch_size=1)
    seen: set[str] = set()
    resent = []  # per stream position: the event id came earlier on the stream
    for e in stream:
        resent.append(e.event_id in seen)
        seen.add(e.event_id)
    store = InMemoryStateStore()
    redeliver: list[tuple[RiskEvent, Any, bool]] = []  # the tail of the last batch: features first sent
    position = 0
    with patch.object(layout, "CHUNK_ENTRIES", 2), patch.object(layout, "ID_SEGMENT", 2):
        for batch, crashed in batches:
            expected = [(f, r) for _, f, r in redeliver] + [
                (expected_features[position + k], resent[position + k]) for k in range(len(batch))
            ]
            flags = resent[position : position + len(batch)]
            position += len(batch)
            delivered = [e for e, _, _ in redeliver] + batch
            features, dups, _, _ = update_state(store, delivered)
            for got, dup, (want, was_resent) in zip(features, dups, expected, strict=True):
                if was_resent:
                    assert dup
                else:
                    assert got == want
            assert dups[: len(redeliver)] == [True] * len(redeliver)
            sent = list(zip(batch, features[len(redeliver) :], flags, strict=True))
            redeliver = sent[len(sent) - crashed :]
        final = store.load({e.user_id for e in stream})
    assert final == expected_states


def test_in_order_single_delivery_equals_one_big_batch() -> None:
    rng = random.Random(3)
    events = sorted(
        (event(rng.uniform(0, 7_200), user=rng.choice("abc"), amount=rng.choice((None, 5.0, 50.0))) for _ in range(60)),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    one_by_one, states_a = replay(events, batch_size=1)
    together, states_b = replay(events, batch_size=1_000)
    assert one_by_one == together and states_a == states_b


# ------------------------------------------------------------------------------------ bounds
def test_old_entries_fold_into_exact_aggregates() -> None:
    day = 86_400.0
    old = [event(t * 600.0, amount=a) for t, a in enumerate((10.0, 20.0, 30.0, 40.0))]
    now = event(HISTORY_SECONDS + 3 * 600.0 + 1.0, amount=100.0)
    feats, states = run([*old, now])
    st_ = states["u-1"]
    assert len(st_.history) == 1 and st_.base_count == 4  # the four old ones were folded
    f = feats[-1]
    assert (f.count_24h, f.amount_sum_24h) == (1, 100.0)
    # Priors are still all four amounts: mean 25, sample std sqrt(500/3).
    assert f.amount_ratio == pytest.approx(4.0)
    assert f.amount_zscore == pytest.approx((100.0 - 25.0) / (500.0 / 3.0) ** 0.5)
    assert f.seconds_since_last is not None and f.seconds_since_last > day
    # A folded event is still recognised when redelivered.
    again = apply_batch(states, [old[0]])
    assert again.duplicates == [True] and again.states == {}


def test_a_straggler_beyond_the_allowed_lateness_is_folded_not_inserted() -> None:
    _, states = run([event(HISTORY_SECONDS + 10_000.0)])
    straggler = event(0.0, amount=7.0)
    result = apply_batch(states, [straggler])
    assert result.duplicates == [False]
    st_ = result.states["u-1"]
    assert len(st_.history) == 1 and st_.base_count == 1 and st_.base_n == 1
    assert apply_batch(result.states, [straggler]).duplicates == [True]


def test_history_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_mod, "MAX_HISTORY", 10)
    feats, states = run([event(t, amount=1.0) for t in range(25)])
    st_ = states["u-1"]
    assert len(st_.history) == 10 and st_.base_count == 15
    assert feats[-1].amount_ratio == pytest.approx(1.0)


def test_device_and_country_maps_are_bounded() -> None:
    _, states = run([event(t, device=f"dev-{t}", country=f"C{t % 40:02d}") for t in range(state_mod.MAX_DEVICES + 8)])
    assert len(states["u-1"].devices) == state_mod.MAX_DEVICES
    assert len(states["u-1"].countries) == state_mod.MAX_COUNTRIES


def test_a_full_state_stays_far_below_the_dynamodb_item_limit() -> None:
    events = [
        event(t * 60.0, event_id="x" * 54 + f"{t:010d}", amount=123_456.78, geo=PARIS, device=f"d{t % 50}")
        for t in range(state_mod.MAX_HISTORY + 50)
    ]
    _, states = run(events)
    blob = states["u-1"].to_bytes()
    assert len(states["u-1"].history) == state_mod.MAX_HISTORY
    assert len(blob) < 200 * 1024
    assert UserState.from_bytes("u-1", blob, 3) == states["u-1"]


def test_serialisation_round_trip_and_ttl() -> None:
    _, states = run([event(0, amount=None), event(30, geo=None), event(HISTORY_SECONDS + 60)])
    st_ = states["u-1"]
    back = UserState.from_bytes("u-1", st_.to_bytes(), 7)
    assert back == st_ and back.version == 7
    # Cumulative sums are rebuilt relative to a new origin: the differences are what count.
    assert [c - back.cum_s[0] for c in back.cum_s] == [c - st_.cum_s[0] for c in st_.cum_s]
    assert back.fold_set == st_.fold_set and back.fold_front == st_.fold_front
    assert st_.expires_at(30) == int(T0.timestamp() + HISTORY_SECONDS + 60 + 30 * 86_400)
    with pytest.raises(ValueError, match="format"):
        UserState.from_bytes("u-1", b'{"v": 99}', 1)
