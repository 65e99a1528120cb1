"""Reason codes from per-feature contributions: shared by every model that has them.

A contribution is a feature's share of the event's log-odds (the logistic model's term, a tree
path's Saabas contribution). Reasons are what the event *has*: an unset indicator, or a feature
that only carries a default because its input is missing, is never named.
"""

from __future__ import annotations

from collections.abc import Sequence

from risk.events.model import RiskEvent
from risk.score.model import Features
from risk.score.vector import AMOUNT_DERIVED, BINARY, FROM_OPTIONAL, GEO_DERIVED, reason_code

TOP_CONTRIBUTIONS = 3  # features named as reasons, by positive contribution


class ReasonPicker:
    """The top positive contributions of a model's features as reason codes."""

    def __init__(self, names: Sequence[str], top: int = TOP_CONTRIBUTIONS) -> None:
        self.top = top
        self.codes = tuple(reason_code(n) for n in names)
        self._binary = tuple(k for k, n in enumerate(names) if n in BINARY)
        self._amount = frozenset(k for k, n in enumerate(names) if n in AMOUNT_DERIVED)
        self._geo = frozenset(k for k, n in enumerate(names) if n in GEO_DERIVED)
        self._optional = tuple((k, FROM_OPTIONAL[n]) for k, n in enumerate(names) if n in FROM_OPTIONAL)

    def pick(self, event: RiskEvent, features: Features, x: Sequence[float], contrib: Sequence[float]) -> list[str]:
        """Codes of the ``top`` largest positive contributions among the features the event has."""
        skip = {k for k in self._binary if x[k] == 0.0}
        if event.amount is None:
            skip |= self._amount
        if event.geo is None:
            skip |= self._geo
        skip.update(k for k, attr in self._optional if getattr(features, attr) is None)
        candidates = [k for k in range(len(contrib)) if k not in skip and contrib[k] > 0.0]
        top = sorted(candidates, key=contrib.__getitem__, reverse=True)[: self.top]
        return [self.codes[k] for k in top]
