"""The score stage against a warm state, with the SDK's marshalling, beside the pure hot path.

An empty store flatters the score stage: its states are small and there is nothing to load. Here
8,000 users first get a day of history (the generator's 25 events per user, about 200,000 events),
written through the store's own ``save``; the figures are then measured on the next events:

* pure hot path: ``parse_record`` + ``score_events`` with an :class:`InMemoryStateStore` (states
  serialised on every round trip, no SDK), on a cold store (``tools.bench.hotpath``'s candidate, the
  baseline of this run) and on the warm one;
* score stage with SDK: ``score_events`` with a :class:`DynamoStateStore` whose boto3 client (the
  functions' settings) is answered inside botocore (``tools.bench.dynamo``): validation,
  serialisation, signing and response parsing are all paid, the fake table's own CPU is subtracted;
  measured once per distinct scoring among the environments (champion and shadows, ``tools.bench.scoring``),
  named with it: the cost model reads each environment's own. The other figures use dev's scoring;
* DynamoDB units per event, as billed, on the warm mix and on the heavy-user mix (10 users at ~400
  events a day and 100 at ~30, over two days, from an empty table). When the stores count units
  themselves (``read_units`` / ``write_units``), their counters are used; else the fake table's.

Time is process CPU time, best of ``repeats`` (see ``tools.bench.hotpath``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import orjson

from risk.events.model import RiskEvent
from risk.parse.parser import parse_record
from risk.score.layout import ChunkCache
from risk.score.scorers import load_scorer
from risk.score.service import score_events
from risk.score.state import UserState, replay
from risk.score.store import DynamoStateStore, InMemoryStateStore
from tools.bench import hotpath, scoring
from tools.bench.dynamo import FakeTable, item_size
from tools.bench.report import Figure
from tools.generator import DAY_S, generate

BENCH = "warmstate"
TABLE = "risk-bench-state"
TTL_DAYS = 30
USERS = 8_000
HISTORY = 200_000  # a day of the generator's traffic for 8,000 users (25 events per user)
DEFAULT_COUNT = 20_000
BATCH = hotpath.DEFAULT_BATCH
HEAVY = ((10, 400), (100, 30))  # (users, events per user per day)
HEAVY_DAYS = 2
TARGET_HOT = hotpath.TARGET_EVENTS_PER_S
TARGET_SDK = 10_000.0
TARGET_UNITS = 1.0
# Figure names other tools read from docs/benchmarks.json (tools.cost).
SDK_FIGURE = "score stage with SDK, warm store"  # + " (<scoring label>)": see sdk_figure
WARM_WCU = "warm mix, one event per user per batch: write units per event"
WARM_RCU = "warm mix, one event per user per batch: read units per event"
HEAVY_WCU = "heavy mix, one event per user per batch: write units per event"
HEAVY_RCU = "heavy mix, one event per user per batch: read units per event"


def _events(dicts: Sequence[dict[str, Any]]) -> list[RiskEvent]:
    return [RiskEvent.from_dict({**e, "ingested_at": e["occurred_at"]}) for e in dicts]


def warm_mix(users: int = USERS, history: int = HISTORY, count: int = DEFAULT_COUNT) -> tuple[list[dict], list[dict]]:
    """(a day of history, the ``count`` events that follow it) for ``users`` users."""
    duration = DAY_S * (history + count) / history
    # All before the records' arrival, with a day to spare: the generator's incidents spill past its duration.
    start = hotpath.ARRIVAL - timedelta(seconds=duration + DAY_S)
    produced = generate(history + count, start=start, users=users, duration_s=duration)
    dicts = [g.event for g in produced]
    return dicts[:history], dicts[history:]


def heavy_mix(mix: Sequence[tuple[int, int]] = HEAVY, days: int = HEAVY_DAYS, seed: int = 11) -> list[dict]:
    """Groups of users at a given daily rate over ``days`` days, merged in time order."""
    out: list[dict[str, Any]] = []
    for group, (users, per_day) in enumerate(mix):
        for g in generate(users * per_day * days, seed=seed + group, users=users, duration_s=DAY_S * days):
            out.append({**g.event, "user_id": f"h{group}-{g.event['user_id']}"})
    out.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return out


def fill(store: Any, states: dict[str, UserState]) -> None:
    """Write each state once through the store's own ``save``, as new items."""
    for st in states.values():
        fresh = st.copy()
        fresh.version = 0
        if not store.save(fresh):
            raise RuntimeError(f"{st.user_id}: could not write its warm state")


def _units(store: Any, table: FakeTable) -> tuple[float, float]:
    """(write, read) units: the store's own counters when it has them, else the fake table's."""
    w, r = getattr(store, "write_units", None), getattr(store, "read_units", None)
    return (float(w), float(r)) if w is not None and r is not None else (table.write_units, table.read_units)


def sdk_figure(scoring_label: str) -> str:
    """The name of the SDK figure measured with one scoring (``tools.bench.scoring.Scoring.label``)."""
    return f"{SDK_FIGURE} ({scoring_label})"


def _best(fn: Callable[[], float], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        best = min(best, fn())
    return best


class Bench:
    """The warm states and the inputs, built once; each ``*_cpu`` method returns CPU seconds of one run."""

    def __init__(self, users: int, history: int, count: int, batch: int, stage: scoring.ScoreStage) -> None:
        past, upcoming = warm_mix(users, history, count)
        _, self.states = replay(_events(past), batch_size=5_000)
        self.records = [orjson.dumps(e) for e in upcoming]
        self.events = _events(upcoming)
        self.batch = batch
        self.stage = stage  # the champion and shadows that score (run() switches it per environment's scoring)
        self.table = FakeTable(TABLE)
        fill(DynamoStateStore(self.table.client(), TABLE, TTL_DAYS), self.states)
        self.snapshot = dict(self.table.items)
        self.item_sizes = sorted(item_size(v) for v in self.snapshot.values() if "version" in v)
        self.units = (0.0, 0.0)

    def _batches(self, events: Sequence[Any]) -> list[Sequence[Any]]:
        return [events[s : s + self.batch] for s in range(0, len(events), self.batch)]

    def hot_cold_cpu(self) -> float:
        started = time.process_time()
        hotpath.candidate(self.records, self.batch, self.stage)
        return time.process_time() - started

    def hot_warm_cpu(self) -> float:
        store = InMemoryStateStore(TTL_DAYS)
        fill(store, self.states)
        started = time.process_time()
        for chunk in self._batches(self.records):
            parsed = [parse_record(d, sequence_number=str(i), arrival=hotpath.ARRIVAL) for i, d in enumerate(chunk)]
            events = [e for e in parsed if isinstance(e, RiskEvent)]
            if len(events) != len(chunk):
                raise RuntimeError("a generated record was quarantined")
            self.stage.score(store, events)
        return time.process_time() - started

    def sdk_warm_cpu(self, batches: Sequence[Sequence[RiskEvent]] | None = None) -> float:
        self.table.items = dict(self.snapshot)
        store = DynamoStateStore(self.table.client(), TABLE, TTL_DAYS)
        self.table.reset_counters()
        started = time.process_time()
        for chunk in self._batches(self.events) if batches is None else batches:
            self.stage.score(store, chunk)
        spent = time.process_time() - started - self.table.cpu_s
        self.units = _units(store, self.table)
        return spent

    def units_one_per_user(self) -> tuple[float, float]:
        """Units per event when each batch holds a user once (production batches are a fraction of a second)."""
        self.sdk_warm_cpu(one_per_user(self.events, self.batch))
        w, r = self.units
        return w / len(self.events), r / len(self.events)


def one_per_user(events: Sequence[RiskEvent], limit: int) -> list[list[RiskEvent]]:
    """Time-ordered batches in which a user appears at most once: how a few users' events arrive when
    they are mixed into busy traffic (at 1,000 events/s a batch of 500 is half a second)."""
    batches: list[list[RiskEvent]] = []
    current: list[RiskEvent] = []
    users: set[str] = set()
    for e in events:
        if e.user_id in users or len(current) >= limit:
            batches.append(current)
            current, users = [], set()
        current.append(e)
        users.add(e.user_id)
    return [*batches, current] if current else batches


def heavy_units(
    batch: int = BATCH,
    mix: Sequence[tuple[int, int]] = HEAVY,
    days: int = HEAVY_DAYS,
    *,
    mixed_in: bool = True,
    cached: bool = True,
) -> tuple[float, float, int]:
    """(write units, read units, events) of the heavy mix through the DynamoDB store from an empty table,
    in batches of one event per user (``mixed_in``) or in plain time-ordered batches (as ``make demo``);
    in one container that keeps the chunks it read (``cached``) or with every batch in a new one."""
    events = _events(heavy_mix(mix, days))
    table = FakeTable(TABLE)
    store = DynamoStateStore(table.client(), TABLE, TTL_DAYS, cache=None if cached else ChunkCache(0))
    scorer = load_scorer({})
    batches = one_per_user(events, batch) if mixed_in else [events[s : s + batch] for s in range(0, len(events), batch)]
    for chunk in batches:
        score_events(store, scorer, chunk)
    w, r = _units(store, table)
    return w, r, len(events)


def run(  # noqa: PLR0917 (the sizes, as the other benchmarks take them)
    users: int = USERS,
    history: int = HISTORY,
    count: int = DEFAULT_COUNT,
    batch: int = BATCH,
    repeats: int = 3,
    heavy: Sequence[tuple[int, int]] = HEAVY,
) -> list[Figure]:
    scorings = scoring.configured()
    dev = scoring.default()
    b = Bench(users, history, count, batch, dev.stage())
    b.sdk_warm_cpu()  # warm imports, the client's caches and the model file
    cold = count / _best(b.hot_cold_cpu, repeats)
    warm = count / _best(b.hot_warm_cpu, repeats)
    sdk: dict[str, float] = {}
    for label, s in scorings.items():  # the unit figures below are from the last run: units do not depend on it
        b.stage = s.stage()
        b.sdk_warm_cpu()  # this scoring's model files
        sdk[label] = count / _best(b.sdk_warm_cpu, repeats)
    b.stage = dev.stage()
    plain_w, plain_r = (u / count for u in b.units)
    warm_w, warm_r = b.units_one_per_user()
    heavy_w, heavy_r, heavy_n = heavy_units(batch, heavy)
    _, cold_r, _ = heavy_units(batch, heavy, cached=False)
    demo_w, demo_r, _ = heavy_units(batch, heavy, mixed_in=False)
    sizes = b.item_sizes
    label = f"{users:,} users, {history:,} events of history"
    sdk_figures = [
        Figure(
            BENCH,
            sdk_figure(name),
            rate,
            "events/s",
            "pure hot path, warm" if name == dev.label else "",
            rate / warm if name == dev.label else None,
            f">= {TARGET_SDK:,.0f}/s per core",
            rate >= TARGET_SDK,
        )
        for name, rate in sdk.items()
    ]
    return [
        Figure(BENCH, f"pure hot path, empty store ({count:,} events)", cold, "events/s"),
        Figure(
            BENCH,
            f"pure hot path, warm store ({label}; {dev.label})",
            warm,
            "events/s",
            "empty store",
            warm / cold,
            f">= {TARGET_HOT:,.0f}/s per core",
            warm >= TARGET_HOT,
        ),
        *sdk_figures,
        Figure(BENCH, "  state head item size, median (warm store)", sizes[len(sizes) // 2] / 1024, "KiB"),
        Figure(BENCH, "  state head item size, largest (warm store)", sizes[-1] / 1024, "KiB"),
        Figure(BENCH, WARM_WCU, warm_w, "WCU"),
        Figure(BENCH, WARM_RCU, warm_r, "RCU"),
        Figure(BENCH, f"  warm mix in plain batches of {batch}: write units per event", plain_w, "WCU"),
        Figure(BENCH, f"  warm mix in plain batches of {batch}: read units per event", plain_r, "RCU"),
        Figure(
            BENCH,
            HEAVY_WCU,
            heavy_w / heavy_n,
            "WCU",
            target=f"<= {TARGET_UNITS:g}",
            met=heavy_w / heavy_n <= TARGET_UNITS,
        ),
        Figure(
            BENCH,
            HEAVY_RCU,
            heavy_r / heavy_n,
            "RCU",
            target=f"<= {TARGET_UNITS:g}",
            met=heavy_r / heavy_n <= TARGET_UNITS,
        ),
        Figure(
            BENCH,
            "  heavy mix, one event per user per batch, no chunk cache: read units per event",
            cold_r / heavy_n,
            "RCU",
        ),
        Figure(BENCH, f"  heavy mix in plain batches of {batch}: write units per event", demo_w / heavy_n, "WCU"),
        Figure(BENCH, f"  heavy mix in plain batches of {batch}: read units per event", demo_r / heavy_n, "RCU"),
    ]
