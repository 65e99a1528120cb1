"""The scored-event wire form: what the loader receives."""

from __future__ import annotations

import json
from dataclasses import asdict

from risk.score.model import Features, ScoredEvent
from risk.score.scorers import RulesScorer
from risk.score.state import apply_batch
from tests.score.conftest import LONDON, PARIS, event


def test_features_to_dict_is_asdict_and_round_trips_through_json() -> None:
    events = [event(0, geo=PARIS), event(60, geo=LONDON, amount=None)]
    for f in apply_batch({}, events).features:
        assert f.to_dict() == asdict(f)
        assert Features.from_dict(json.loads(json.dumps(f.to_dict()))) == f


def test_scored_event_round_trips() -> None:
    ev = event(0, geo=PARIS)
    [f] = apply_batch({}, [ev]).features
    scored = ScoredEvent(ev, f, RulesScorer().score(ev, f))
    assert ScoredEvent.from_dict(json.loads(json.dumps(scored.to_dict()))) == scored
