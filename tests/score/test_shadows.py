"""Champion and shadows: shadows score the same features, travel with the event, are stored, decide nothing."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from risk.common import settings
from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import to_record
from risk.score import handler
from risk.score.model import ScoredEvent, ShadowScore
from risk.score.scorers import load_scorer
from risk.score.scorers.shadow import ShadowScorer, load_shadows, parse_shadows, with_shadows
from risk.score.state import replay
from tests.score.conftest import LONDON, PARIS, event, sqs_event
from tests.score.test_handler import Aws, aws, drain, invoke, journey  # noqa: F401 (aws is a fixture)


def test_shadow_settings_parse_and_bad_ones_are_refused_in_one_line() -> None:
    assert parse_shadows("xgboost:xgb-v1.json, logistic:lr-v1.json") == [
        ("xgboost", "xgb-v1.json"),
        ("logistic", "lr-v1.json"),
    ]
    assert parse_shadows("") == []
    for bad in ("xgb-v1.json", "sagemaker:x.json", "rules:lr-v1.json", "logistic:"):
        with pytest.raises(ValueError, match="is not kind:model_file"):
            parse_shadows(bad)


def test_each_environments_champion_and_shadows_load_from_cdk_json() -> None:
    from stacks.config import load_environment, runtime_environment  # noqa: PLC0415

    champions = {}
    for name in ("dev", "staging", "prod"):
        env = runtime_environment(
            load_environment(name),
            "score",
            {settings.SCORED_QUEUE_URL: "-", settings.STATE_TABLE: "-", settings.ARCHIVE_BUCKET: "-"},
        )
        champion = load_scorer(env)
        shadows = load_shadows(env)
        assert shadows, name  # every environment runs a shadow
        assert champion.model_version not in {s.model_version for s in shadows}
        champions[name] = champion.model_version
    assert champions == {"dev": "xgb-v2", "staging": "xgb-v2", "prod": "lr-v1"}


def test_config_refuses_a_shadow_that_is_the_champion() -> None:
    from stacks.config import ConfigError, _Reader, _shadows  # noqa: PLC0415

    scoring = {"model_file": "lr-v1.json", "shadows": [{"scorer": "logistic", "model_file": "lr-v1.json"}]}
    with pytest.raises(ConfigError, match="appears twice"):
        _shadows(_Reader(scoring, "environments.dev.scoring"))
    with pytest.raises(ConfigError, match=r"shadows\[0\]\.scorer: 'sagemaker' is not one of"):
        _shadows(_Reader({"model_file": "a.json", "shadows": [{"scorer": "sagemaker", "model_file": "b.json"}]}, "s"))


def test_with_shadows_attaches_each_shadows_own_score_and_keeps_failed_positions() -> None:
    events = [event(0, geo=PARIS), event(600, geo=LONDON, amount=900.0)]
    feats, _ = replay(events)
    champion = load_scorer({"SCORER": "xgboost", "MODEL_FILE": "xgb-v1.json"})
    lr = load_scorer({"SCORER": "logistic", "MODEL_FILE": "lr-v1.json"})
    scored = [ScoredEvent(e, f, s) for e, f, s in zip(events, feats, champion.score_batch(events, feats), strict=True)]
    shadows = load_shadows({settings.SHADOW_SCORERS: "logistic:lr-v1.json"})
    out = with_shadows(shadows, [scored[0], None, scored[1]])
    assert out[1] is None
    expected = lr.score_batch(events, feats)
    for got, want in zip((out[0], out[2]), expected, strict=True):
        assert got is not None
        assert got.shadows == (ShadowScore("lr-v1", want.score, want.risk_band),)
        assert got.score.model_version == "xgb-v1"  # the champion still decides


def test_a_failing_shadow_leaves_the_batch_without_shadow_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    [shadow] = load_shadows({settings.SHADOW_SCORERS: "logistic:lr-v1.json"})
    ev = event(0)
    [f] = replay([ev])[0]
    scored = ScoredEvent(ev, f, load_scorer({"SCORER": "rules"}).score(ev, f))

    def broken(*_: object) -> list[ShadowScore]:
        raise RuntimeError("shadow bug")

    monkeypatch.setattr(ShadowScorer, "scores", broken)
    assert with_shadows([shadow], [scored]) == [scored]


def test_the_scored_message_carries_the_shadows_and_the_row_stores_them(
    aws: Aws,  # noqa: F811 (the handler tests' fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(settings.SCORER, "xgboost")
    monkeypatch.setenv(settings.MODEL_FILE, "xgb-v1.json")
    monkeypatch.setenv(settings.SHADOW_SCORERS, "logistic:lr-v1.json")
    handler.dependencies.cache_clear()
    first, second = journey()
    assert invoke(sqs_event(first, second)) == {"batchItemFailures": []}
    scored = drain(aws)
    assert len(scored) == 12
    assert all(s.score.model_version == "xgb-v1" for s in scored)
    assert all([sh.model_version for sh in s.shadows] == ["lr-v1"] for s in scored)
    carol = next(s for s in scored if s.event.event_id == second[-1].event_id)
    assert carol.score.risk_band == "high" and carol.shadows[0].risk_band == "high"  # card testing: both agree

    keys = Pseudonymiser(b"k" * 32)
    record = to_record(carol, keys, carol.event.ingested_at)
    assert record["shadow_scores"] == [carol.shadows[0].to_dict()]
    assert to_record(replace(carol, shadows=()), keys, carol.event.ingested_at)["shadow_scores"] is None
    assert json.loads(json.dumps(carol.to_dict()))["shadows"][0]["model_version"] == "lr-v1"
