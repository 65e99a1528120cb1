"""The state's item layout: head + immutable chunks + id segments, exact duplicates over the horizon."""

from __future__ import annotations

from typing import Any

import pytest

from risk.score import layout, units
from risk.score.layout import ChunkCache, MissingChunkError
from risk.score.scorers import RulesScorer
from risk.score.service import score_events, update_state
from risk.score.state import DAY_SECONDS, apply_batch, event_key, replay
from risk.score.store import InMemoryStateStore
from tests.score.conftest import PARIS, event

HOUR = 3_600.0


def heavy_user(days: float, per_day: int = 400, user: str = "u-1") -> list[Any]:
    step = DAY_SECONDS / per_day
    return [
        event(k * step, user=user, event_id=f"{user}-{k:06d}", amount=10.0 + k % 7, geo=PARIS, device=f"d{k % 3}")
        for k in range(int(days * per_day))
    ]


def feed_once_per_batch(store: InMemoryStateStore, events: list[Any]) -> list[Any]:
    features = []
    for e in events:
        f, _, _, _ = update_state(store, [e])
        features += f
    return features


def assert_heads_and_immutables(store: InMemoryStateStore, user: str) -> tuple[dict[str, Any], list[str]]:
    head = store.items[user]
    others = [k for k in store.items if k.startswith(f"{user}#")]
    assert "version" in head and all("version" not in store.items[k] for k in others)
    return head, others


def test_a_heavy_user_once_per_batch_writes_a_small_head_and_seals_chunks() -> None:
    store = InMemoryStateStore()
    events = heavy_user(2.0)
    features = feed_once_per_batch(store, events)
    expected, _ = replay(events, batch_size=1)
    assert features == expected  # the layout changes what is stored, never the features
    head, others = assert_heads_and_immutables(store, "u-1")
    assert any("#h" in k for k in others) and any("#i" in k for k in others)
    assert units.item_size(head) < 2_048  # the 26 h history (~21 KB) is in the chunks
    assert store.write_units / len(events) < 2.0  # was ~20 units per event with one item per user
    state = store.load(["u-1"])["u-1"]
    assert len(state.history) > 400 and len(state.chunks) >= len(state.history) // layout.CHUNK_ENTRIES


def test_chunks_are_cached_per_container_and_read_eventually_consistent_otherwise() -> None:
    events = heavy_user(1.5)
    warm, cold = InMemoryStateStore(), InMemoryStateStore(cache=ChunkCache(0))
    feed_once_per_batch(warm, events)
    feed_once_per_batch(cold, events)
    assert warm.write_units == cold.write_units
    assert warm.read_units < cold.read_units / 3  # a warm container reads the head and new chunks only
    assert warm.cache.hits > 0 and cold.cache.hits == 0


def test_a_duplicate_folded_days_ago_is_recognised_within_the_horizon() -> None:
    store = InMemoryStateStore(horizon_days=14)
    events = heavy_user(3.0, per_day=100)
    for start in range(0, len(events), 50):
        update_state(store, events[start : start + 50])
    before = store.load(["u-1"])["u-1"]
    assert before.id_days  # day 0's ids are in id segments now
    old = events[3]  # folded out of the history two days ago
    assert event_key(old.event_id) not in before.ids and event_key(old.event_id) not in before.fold_set
    _, dups, writes, _ = update_state(store, [old])
    assert dups == [True] and writes == 0
    after = store.load(["u-1"])["u-1"]
    assert after.content() == before.content()  # not counted again


def test_beyond_the_horizon_an_id_is_no_longer_recognised() -> None:
    store = InMemoryStateStore(horizon_days=2)
    events = heavy_user(5.0, per_day=50)
    for start in range(0, len(events), 25):
        update_state(store, events[start : start + 25])
    state = store.load(["u-1"])["u-1"]
    assert state.id_days and min(state.id_days) >= int((state.max_ts - 2 * DAY_SECONDS) // DAY_SECONDS)
    _, dups, _, _ = update_state(store, [events[0]])  # five days old: past the two-day horizon
    assert dups == [False]


def test_a_writer_that_loses_the_race_cannot_change_what_the_winner_points_at() -> None:
    """Chunks are named by their content: the loser's chunk is another item, never an overwrite."""
    store = InMemoryStateStore()
    base = heavy_user(0.1, per_day=400)  # 40 events: two chunks sealed
    update_state(store, base)
    ours = store.load(["u-1"])
    rival = store.load(["u-1"])
    mine = [event(9_000.0 + k, event_id=f"mine-{k}") for k in range(20)]
    theirs = [event(9_500.0 + k, event_id=f"theirs-{k}") for k in range(20)]
    win = apply_batch(rival, theirs, owned=True).states["u-1"]
    lose = apply_batch(ours, mine, owned=True).states["u-1"]
    assert store.save(win)
    assert not store.save(lose)
    final = store.load(["u-1"])["u-1"]
    assert {e[1] for e in final.history} == {e[1] for e in win.history}


def test_a_missing_chunk_fails_the_batch_loudly() -> None:
    store = InMemoryStateStore(cache=ChunkCache(0))
    update_state(store, heavy_user(0.1, per_day=400))
    chunk = next(k for k in store.items if "#h" in k)
    del store.items[chunk]
    with pytest.raises(MissingChunkError, match="missing"):
        store.load(["u-1"])


def test_score_events_through_the_layout_counts_duplicates_and_writes_once_per_user() -> None:
    store = InMemoryStateStore()
    events = [event(t * 60.0, user=u) for t in range(40) for u in ("a", "b")]
    first = score_events(store, RulesScorer(), events)
    again = score_events(store, RulesScorer(), events)
    assert (first.writes, again.writes, again.duplicates) == (2, 0, 80)
    assert [s.features for s in again.scored] == [s.features for s in first.scored]


def test_all_keys_lists_every_item_of_a_user_for_erasure() -> None:
    store = InMemoryStateStore(horizon_days=14)
    events = heavy_user(2.5, per_day=100)
    for start in range(0, len(events), 30):
        update_state(store, events[start : start + 30])
    state = store.load(["u-1"])["u-1"]
    listed = set(layout.all_keys(state))
    assert listed and listed <= {k for k in store.items if k.startswith("u-1#")}
    assert any("#h" in k for k in listed) and any("#i" in k for k in listed)
