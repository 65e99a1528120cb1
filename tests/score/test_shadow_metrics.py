"""Champion vs shadows metrics: the real score handler on moto emits ShadowBands and ScoresByBucket
that match the scored events it sent (bands per shadow version, scores per bucket and model version)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from risk.common import settings, telemetry
from risk.score import handler
from risk.score.model import ScoredEvent
from risk.score.scorers.shadow import ShadowScorer
from tests.score.conftest import sqs_event
from tests.score.test_handler import Aws, aws, drain, emitted, invoke, journey  # noqa: F401 (aws: the fixture)


def _of(metrics: Counter[tuple[str, ...]], spec: telemetry.MetricSpec) -> Counter[tuple[str, ...]]:
    return Counter({k[1:]: v for k, v in metrics.items() if k[0] == spec.name})


def _bucket_by_hand(score: float) -> str:
    return f"{min(math.floor(score * 10), 9) / 10:.1f}"


def _run_with_shadow(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> list[ScoredEvent]:  # noqa: F811
    monkeypatch.setenv(settings.SCORER, "xgboost")
    monkeypatch.setenv(settings.MODEL_FILE, "xgb-v1.json")
    monkeypatch.setenv(settings.SHADOW_SCORERS, "logistic:lr-v1.json")
    handler.dependencies.cache_clear()
    first, second = journey()
    assert invoke(sqs_event(first, second)) == {"batchItemFailures": []}
    return drain(aws)


def test_score_buckets_are_tenths_with_the_band_thresholds_on_their_lower_edges() -> None:
    assert telemetry.SCORE_BUCKETS == ("0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9")
    assert [telemetry.score_bucket(x) for x in (0.0, 0.0999, 0.29999, 0.3, 0.7, 0.6999, 0.95, 1.0)] == [
        "0.0",
        "0.0",
        "0.2",
        "0.3",
        "0.7",
        "0.6",
        "0.9",
        "0.9",
    ]


def test_shadow_bands_count_each_event_once_per_shadow_by_champion_and_shadow_band(
    aws: Aws,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scored = _run_with_shadow(aws, monkeypatch)
    metrics = emitted(capsys)
    pairs = _of(metrics, telemetry.SHADOW_BANDS)
    assert (telemetry.SHADOW_FAILURES.name,) in metrics  # where shadows run: a zero, not a gap
    assert _of(metrics, telemetry.SHADOW_FAILURES) == Counter({(): 0})
    assert pairs == Counter((s.shadows[0].model_version, s.score.risk_band, s.shadows[0].risk_band) for s in scored)
    assert sum(pairs.values()) == len(scored) == 12  # compared: every event the champion sent
    assert {version for version, _, _ in pairs} == {"lr-v1"}
    assert pairs[("lr-v1", "high", "high")] >= 1  # card testing: both models put it high
    assert any(c != s for _, c, s in pairs)  # the journey has events the two models band differently


def test_scores_by_bucket_give_each_model_versions_distribution_with_its_role(
    aws: Aws,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scored = _run_with_shadow(aws, monkeypatch)
    buckets = _of(emitted(capsys), telemetry.SCORES_BY_BUCKET)
    want = Counter(("xgb-v1", "champion", _bucket_by_hand(s.score.score)) for s in scored)
    want.update(("lr-v1", "shadow", _bucket_by_hand(s.shadows[0].score)) for s in scored)
    assert buckets == want
    assert sum(v for (version, _, _), v in buckets.items() if version == "xgb-v1") == 12
    assert sum(v for (version, _, _), v in buckets.items() if version == "lr-v1") == 12


def test_without_shadows_only_the_champions_distribution_is_emitted(
    aws: Aws,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = journey()
    assert invoke(sqs_event(first, second)) == {"batchItemFailures": []}
    scored = drain(aws)
    metrics = emitted(capsys)
    assert _of(metrics, telemetry.SHADOW_BANDS) == Counter()
    assert _of(metrics, telemetry.SCORES_BY_BUCKET) == Counter(
        ("lr-v1", "champion", _bucket_by_hand(s.score.score)) for s in scored
    )
    assert _of(metrics, telemetry.SHADOW_FAILURES) == Counter()  # no shadows, no series


def test_a_failing_shadow_is_compared_on_no_event_and_the_champion_is_still_counted(
    aws: Aws,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(*_: object) -> list[object]:
        raise RuntimeError("shadow bug")

    monkeypatch.setattr(ShadowScorer, "scores", broken)
    scored = _run_with_shadow(aws, monkeypatch)
    metrics = emitted(capsys)
    assert _of(metrics, telemetry.SHADOW_BANDS) == Counter()
    assert sum(_of(metrics, telemetry.SCORES_BY_BUCKET).values()) == len(scored) == 12
    assert _of(metrics, telemetry.SHADOW_FAILURES) == Counter({(): 12})  # every event the shadow missed
