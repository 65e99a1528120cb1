"""Deterministic, realistic, labelled events in the producer contract.

Many users with a home city, a few devices and a typical spend act over a simulated day;
fraud incidents are injected with labels: velocity bursts, impossible travel, new device
with a high amount, card testing, spend ramp-up (several high-value orders within an hour)
and account takeover (three variants); legitimate high-volume accounts (API clients and
marketplaces sending every few seconds) are part of the normal traffic. The same seed always
gives the same events, so the model training, the local demo, the producer tool and the
benchmarks can share it::

    from tools.generator import generate
    for g in generate(1000, seed=7):
        g.event   # the dict a producer sends (no label in it)
        g.label   # 1 for fraud, 0 otherwise
        g.pattern # NORMAL, HIGH_VOLUME (legitimate, label 0) or one of PATTERNS
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import uuid
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from typing import Any

import orjson

from risk.events.model import RiskEvent
from risk.score.features import haversine_km

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
DAY_S = 86_400.0
NORMAL = "normal"
HIGH_VOLUME = "high_volume"  # legitimate accounts sending every few seconds: label 0
# The patterns before issue 15: what lr-v1 was trained on (``patterns=V1_PATTERNS, high_volume_share=0``).
V1_PATTERNS = ("velocity_burst", "impossible_travel", "new_device_high_amount", "card_testing")
PATTERNS = (*V1_PATTERNS, "spend_ramp_up", "account_takeover")
DEFAULT_HIGH_VOLUME_SHARE = 0.02

# name, lat, lon, country, currency, UTC offset in minutes
CITIES: tuple[tuple[str, float, float, str, str, int], ...] = (
    ("Paris", 48.8566, 2.3522, "FR", "EUR", 60),
    ("London", 51.5074, -0.1278, "GB", "GBP", 0),
    ("Berlin", 52.5200, 13.4050, "DE", "EUR", 60),
    ("Madrid", 40.4168, -3.7038, "ES", "EUR", 60),
    ("Rome", 41.9028, 12.4964, "IT", "EUR", 60),
    ("Amsterdam", 52.3676, 4.9041, "NL", "EUR", 60),
    ("Warsaw", 52.2297, 21.0122, "PL", "PLN", 60),
    ("Stockholm", 59.3293, 18.0686, "SE", "SEK", 60),
    ("Dublin", 53.3498, -6.2603, "IE", "EUR", 0),
    ("Lisbon", 38.7223, -9.1393, "PT", "EUR", 0),
    ("New York", 40.7128, -74.0060, "US", "USD", -300),
    ("Chicago", 41.8781, -87.6298, "US", "USD", -360),
    ("San Francisco", 37.7749, -122.4194, "US", "USD", -480),
    ("Toronto", 43.6532, -79.3832, "CA", "CAD", -300),
    ("Mexico City", 19.4326, -99.1332, "MX", "MXN", -360),
    ("Sao Paulo", -23.5505, -46.6333, "BR", "BRL", -180),
    ("Lagos", 6.5244, 3.3792, "NG", "NGN", 60),
    ("Nairobi", -1.2921, 36.8219, "KE", "KES", 180),
    ("Dubai", 25.2048, 55.2708, "AE", "AED", 240),
    ("Mumbai", 19.0760, 72.8777, "IN", "INR", 330),
    ("Singapore", 1.3521, 103.8198, "SG", "SGD", 480),
    ("Tokyo", 35.6762, 139.6503, "JP", "JPY", 540),
    ("Sydney", -33.8688, 151.2093, "AU", "AUD", 600),
    ("Seoul", 37.5665, 126.9780, "KR", "KRW", 540),
)
# Where users live (the first cities are the product's main markets).
_CITY_WEIGHTS = tuple(accumulate([8, 7, 6, 5, 4, 4, 3, 2, 2, 2, 6, 4, 3, 3, 2, 2, 1, 1, 1, 2, 1, 2, 1, 1]))
_TYPES = ("payment", "order", "login", "payout", "content_post", "shipment", "refund", "signup")
_TYPE_WEIGHTS = tuple(accumulate([45, 20, 20, 3, 5, 4, 2, 1]))
_MONETARY = frozenset({"payment", "order", "payout", "refund"})
_CHANNELS = ("web", "app", "api")


@dataclass(frozen=True, slots=True)
class GeneratedEvent:
    event: dict[str, Any]  # exactly what a producer sends
    label: int  # 1: part of a fraud incident
    pattern: str  # NORMAL or one of PATTERNS
    ts: float  # occurred_at as epoch seconds (sorting, pacing)

    def as_risk_event(self) -> RiskEvent:
        """The event as the parse stage would hand it on (ingested when it occurred)."""
        return RiskEvent.from_dict({**self.event, "ingested_at": self.event["occurred_at"]})


@dataclass
class _User:
    user_id: str
    email: str
    city: int
    devices: list[str]
    typical: float
    channel: str
    ip: str
    merchants: list[str]
    weight: float


class _Gen:
    def __init__(self, seed: int, start: datetime, users: int, duration_s: float) -> None:
        self.rng = random.Random(seed)
        self.start = start.timestamp()
        self.duration = duration_s
        self.users = [self._user(i) for i in range(users)]
        self.user_cum = list(accumulate(u.weight for u in self.users))
        self.out: list[GeneratedEvent] = []

    # ------------------------------------------------------------------ building blocks
    def _id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(48):012x}"

    def _user(self, i: int) -> _User:
        rng = self.rng
        city = bisect_right(_CITY_WEIGHTS, rng.random() * _CITY_WEIGHTS[-1])
        return _User(
            user_id=f"u-{i:06d}",
            email=f"user{i}@example.com",
            city=city,
            devices=[self._id("dev") for _ in range(rng.choice((1, 1, 2, 2, 3)))],
            typical=round(math.exp(rng.gauss(math.log(40.0), 0.8)), 2),
            channel=rng.choice(("web", "app", "app", "api")),
            ip=f"198.51.{rng.randrange(100, 200)}.{rng.randrange(1, 255)}",
            merchants=[f"m-{rng.randrange(5000):04d}" for _ in range(rng.randrange(2, 8))],
            weight=rng.paretovariate(1.5),  # a few heavy users, many light ones
        )

    def _pick_user(self) -> _User:
        return self.users[bisect_right(self.user_cum, self.rng.random() * self.user_cum[-1])]

    def _time(self) -> float:
        """A time in the day, with fewer events at night (home time does not matter here)."""
        while True:
            t = self.rng.random()
            if self.rng.random() < 0.55 + 0.45 * math.sin(math.pi * t):
                return self.start + t * self.duration

    def _emit(
        self,
        user: _User,
        ts: float,
        label: int,
        pattern: str,
        *,
        event_type: str | None = None,
        amount: float | None = None,
        city: int | None = None,
        device: str | None = None,
        ip: str | None = None,
        merchant: str | None = None,
        geo: bool = True,
    ) -> None:
        rng = self.rng
        if event_type is None:
            event_type = _TYPES[bisect_right(_TYPE_WEIGHTS, rng.random() * _TYPE_WEIGHTS[-1])]
        c = CITIES[user.city if city is None else city]
        offset = c[5]
        local = datetime.fromtimestamp(ts, timezone(timedelta(minutes=offset)))
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "user_id": user.user_id,
            "event_type": event_type,
            "occurred_at": local.isoformat(timespec="milliseconds"),
            "schema_version": 1,
            "channel": user.channel,
            "email": user.email,
            "ip": ip or user.ip,
            "country": c[3],
            "device_id": device or rng.choice(user.devices),
        }
        if event_type in _MONETARY:
            if amount is None:
                amount = user.typical * math.exp(rng.gauss(0.0, 0.45))
            event["amount"] = round(max(amount, 0.01), 2)
            event["currency"] = c[4]
            event["merchant_id"] = merchant or rng.choice(user.merchants)
        if geo and user.channel != "api":
            event["geo"] = {
                "lat": round(c[1] + rng.gauss(0.0, 0.05), 4),
                "lon": round(c[2] + rng.gauss(0.0, 0.05), 4),
            }
        if user.channel == "app":
            event["metadata"] = {"app_version": "5.2.1"}
        self.out.append(GeneratedEvent(event, label, pattern, ts))

    # ------------------------------------------------------------------------- traffic
    def normal(self) -> None:
        rng = self.rng
        user = self._pick_user()
        roll = rng.random()
        if roll < 0.03:  # a legitimate new phone
            self._emit(user, self._time(), 0, NORMAL, device=self._id("dev"))
        elif roll < 0.035:  # a legitimate trip
            self._emit(user, self._time(), 0, NORMAL, city=rng.randrange(len(CITIES)))
        else:
            self._emit(user, self._time(), 0, NORMAL)

    def velocity_burst(self, budget: int) -> int:
        rng = self.rng
        user, t0 = self._pick_user(), self._time()
        n = min(budget, rng.randrange(6, 13))
        span = rng.uniform(30.0, 120.0)
        device = rng.choice((self._id("dev"), rng.choice(user.devices)))
        for k in range(n):
            amount = user.typical * rng.uniform(0.5, 2.0)
            self._emit(user, t0 + span * k / n, 1, "velocity_burst", event_type="payment", amount=amount, device=device)
        return n

    def impossible_travel(self, budget: int) -> int:
        rng = self.rng
        user, t0 = self._pick_user(), self._time()
        self._emit(user, t0, 0, NORMAL, event_type="login")  # the real user, at home
        home = CITIES[user.city]
        far = [i for i, c in enumerate(CITIES) if c[3] != home[3] and _km(home, c) > 2_000.0]
        city = rng.choice(far)
        device, ip = self._id("dev"), f"203.0.113.{rng.randrange(1, 255)}"
        n = min(budget, rng.randrange(1, 4))
        t = t0 + rng.uniform(120.0, 2_400.0)
        for _ in range(n):
            amount = user.typical * rng.uniform(1.0, 6.0)
            self._emit(
                user,
                t,
                1,
                "impossible_travel",
                event_type=rng.choice(("payment", "payout")),
                amount=amount,
                city=city,
                device=device,
                ip=ip,
            )
            t += rng.uniform(30.0, 600.0)
        return n

    def new_device_high_amount(self, budget: int) -> int:
        rng = self.rng
        user, t0 = self._pick_user(), self._time()
        device = self._id("dev")
        n = min(budget, rng.randrange(1, 3))
        for k in range(n):
            amount = user.typical * rng.uniform(5.0, 25.0)
            self._emit(
                user,
                t0 + 90.0 * k,
                1,
                "new_device_high_amount",
                event_type=rng.choice(("payment", "payout")),
                amount=amount,
                device=device,
            )
        return n

    def card_testing(self, budget: int) -> int:
        rng = self.rng
        user, t0 = self._pick_user(), self._time()
        device, ip = self._id("dev"), f"203.0.113.{rng.randrange(1, 255)}"
        n = min(budget, rng.randrange(10, 26))
        span = rng.uniform(120.0, 900.0)
        for k in range(n):
            self._emit(
                user,
                t0 + span * k / n,
                1,
                "card_testing",
                event_type="payment",
                amount=rng.uniform(0.5, 3.0),
                device=device,
                ip=ip,
                merchant=f"m-{rng.randrange(5000):04d}",
            )
        return n

    def spend_ramp_up(self, budget: int) -> int:
        """The user's own device and place, several orders within an hour, growing to many times their usual."""
        rng = self.rng
        user, t0 = self._pick_user(), self._time()
        n = min(budget, rng.randrange(3, 8))
        span = rng.uniform(600.0, 3_300.0)
        start, end = rng.uniform(1.2, 3.0), rng.uniform(4.0, 15.0)
        device = rng.choice(user.devices)
        for k in range(n):
            amount = user.typical * (start + (end - start) * k / max(n - 1, 1)) * rng.uniform(0.85, 1.15)
            t = t0 + span * k / n + rng.uniform(0.0, 60.0)
            self._emit(user, t, 1, "spend_ramp_up", event_type=rng.choice(("order", "payment")), amount=amount,
                       device=device)  # fmt: skip
        return n

    def account_takeover(self, budget: int) -> int:
        """Someone else in the account, three ways: a new device in the user's own country that signs in
        then pays out moderate amounts; a small test payment first, then growing ones; or a new device
        and a neighbouring country (a proxy) reached late enough not to be impossible travel."""
        rng = self.rng
        user, t0 = self._pick_user(), self._time()
        device, ip = self._id("dev"), f"203.0.113.{rng.randrange(1, 255)}"
        variant = rng.randrange(3)
        city = user.city
        if variant == 2:
            home = CITIES[user.city]
            near = [i for i, c in enumerate(CITIES) if c[3] != home[3] and 200.0 < _km(home, c) < 2_500.0]
            city = rng.choice(near) if near else rng.randrange(len(CITIES))
            t0 += rng.uniform(10_800.0, 21_600.0)  # hours after the user's last place: not impossible
        n = 0
        t = t0
        if budget > 1 and rng.random() < 0.7:
            self._emit(user, t, 1, "account_takeover", event_type="login", city=city, device=device, ip=ip)
            n += 1
            t += rng.uniform(30.0, 900.0)
        steps = min(budget - n, rng.randrange(1, 5))
        for k in range(steps):
            if variant == 1 and k == 0:
                amount = rng.uniform(0.5, 5.0)
            else:
                amount = user.typical * rng.uniform(1.5, 6.0) * (1.0 + 0.5 * k)
            self._emit(user, t, 1, "account_takeover", event_type=rng.choice(("payout", "payment", "order")),
                       amount=amount, city=city, device=device, ip=ip)  # fmt: skip
            n += 1
            t += rng.uniform(20.0, 1_200.0)
        return n

    def high_volume(self, count: int, k: int) -> None:
        """A legitimate account sending every few seconds (API client or marketplace): label 0."""
        rng = self.rng
        api = rng.random() < 0.6
        user = self._user(len(self.users) + k)
        user.user_id = f"u-hv-{k:03d}"
        user.channel = "api" if api else "web"
        user.devices = user.devices[:1]
        user.merchants = [f"m-{rng.randrange(5000):04d}" for _ in range(rng.randrange(5, 40))]
        interval = rng.uniform(3.0, 15.0)
        t = self.start + rng.uniform(0.0, max(self.duration - count * interval, 0.0))
        for _ in range(count):
            self._emit(user, t, 0, HIGH_VOLUME, event_type=rng.choice(("payment", "payment", "order")))
            t += interval * rng.uniform(0.7, 1.3)


def high_volume_account(
    count: int, seed: int, start: datetime = DEFAULT_START, *, interval_s: float = 7.0, api: bool = True
) -> list[GeneratedEvent]:
    """One legitimate account alone, sending ``count`` events every ``interval_s`` (about): issue 15's
    steady API client is ``high_volume_account(6_000, seed, interval_s=7.0)`` (12 hours)."""
    gen = _Gen(seed, start, 0, count * interval_s * 1.3)
    user = gen._user(0)
    user.user_id, user.channel, user.devices = f"u-client-{seed}", "api" if api else "web", user.devices[:1]
    t = gen.start
    for _ in range(count):
        gen._emit(user, t, 0, HIGH_VOLUME, event_type=gen.rng.choice(("payment", "payment", "order")))
        t += interval_s * gen.rng.uniform(0.7, 1.3)
    return gen.out


def _km(a: tuple[str, float, float, str, str, int], b: tuple[str, float, float, str, str, int]) -> float:
    return haversine_km(a[1], a[2], b[1], b[2])


def generate(
    count: int,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    *,
    fraud_rate: float = 0.05,
    users: int | None = None,
    duration_s: float = DAY_S,
    patterns: tuple[str, ...] = PATTERNS,
    high_volume_share: float = DEFAULT_HIGH_VOLUME_SHARE,
) -> list[GeneratedEvent]:
    """``count`` events over ``duration_s`` from ``start``, sorted by time; about ``fraud_rate`` fraudulent
    (incidents drawn from ``patterns``) and about ``high_volume_share`` from legitimate high-volume accounts."""
    if count < 0 or not 0.0 <= fraud_rate <= 1.0 or not 0.0 <= high_volume_share <= 1.0:
        raise ValueError("count must be >= 0, fraud_rate and high_volume_share in [0, 1]")
    unknown = set(patterns) - set(PATTERNS)
    if unknown or (not patterns and fraud_rate > 0.0):
        raise ValueError(f"unknown patterns {sorted(unknown)}: expected some of {', '.join(PATTERNS)}")
    gen = _Gen(seed, start, users or max(20, count // 25), duration_s)
    incidents = tuple(getattr(gen, name) for name in patterns)
    high_volume = round(count * high_volume_share)
    accounts = min(max(1, high_volume // 1_500), 8) if high_volume else 0
    for k in range(accounts):  # each account sends its share at its own steady pace
        gen.high_volume(high_volume // accounts, k)
    fraud_budget = round(count * fraud_rate)
    while fraud_budget > 0 and len(gen.out) < count:
        before = len(gen.out)
        incident = gen.rng.choice(incidents)
        fraud_budget -= incident(min(fraud_budget, count - len(gen.out)))
        del gen.out[count:]  # an incident's leading normal event may overshoot by one
        if len(gen.out) == before:
            break
    while len(gen.out) < count:
        gen.normal()
    gen.out.sort(key=lambda g: (g.ts, g.event["event_id"]))
    return gen.out


def main(argv: list[str] | None = None) -> int:
    """Print events as JSON Lines (``--labels`` adds label and pattern) for ad-hoc use."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fraud-rate", type=float, default=0.05)
    p.add_argument("--labels", action="store_true", help="wrap each event with its label and pattern")
    args = p.parse_args(argv)
    out = sys.stdout.buffer
    for g in generate(args.count, args.seed, fraud_rate=args.fraud_rate):
        doc = {"event": g.event, "label": g.label, "pattern": g.pattern} if args.labels else g.event
        out.write(orjson.dumps(doc) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
