"""The score-stage benchmarks and the cost model measure each environment's own champion and shadows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from risk.score.store import InMemoryStateStore
from stacks.config import ENVIRONMENT_NAMES, load_environment, parse_environment, read_environments
from tools import cost
from tools.bench import scoring, warmstate
from tools.bench.workload import risk_events


def _config(scoring_block: dict[str, Any]) -> scoring.Scoring:
    raw = dict(read_environments()["dev"])
    raw["scoring"] = {**raw["scoring"], **scoring_block}
    return scoring.of_config(parse_environment("dev", raw))


def test_each_environment_benchmarks_the_champion_and_shadows_its_config_names() -> None:
    for env in ENVIRONMENT_NAMES:
        cfg = load_environment(env).scoring
        stage = scoring.of_environment(env).stage()
        champion = cfg.model_file.removesuffix(".json")
        assert stage.scorer.model_version == champion
        assert [s.model_version for s in stage.shadows] == [sh.model_file.removesuffix(".json") for sh in cfg.shadows]
        label = scoring.of_environment(env).label
        assert label.startswith(f"{cfg.scorer} {cfg.model_file}")
        assert all(f"shadow {sh.scorer} {sh.model_file}" in label for sh in cfg.shadows)


def test_a_switched_champion_changes_what_is_measured_and_its_label() -> None:
    s = _config(
        {
            "scorer": "logistic",
            "model_file": "lr-v1.json",
            "shadows": [{"scorer": "xgboost", "model_file": "xgb-v1.json"}],
        }
    )
    assert s.label == "logistic lr-v1.json + shadow xgboost xgb-v1.json"
    stage = s.stage()
    scored = stage.score(InMemoryStateStore(), risk_events(40))
    assert len(scored) == 40
    assert {e.score.model_version for e in scored} == {"lr-v1"}
    assert {tuple(sh.model_version for sh in e.shadows) for e in scored} == {("xgb-v1",)}
    alone = _config({"scorer": "xgboost", "model_file": "xgb-v1.json", "shadows": []})
    assert alone.label == "xgboost xgb-v1.json"
    assert all(e.shadows == () for e in alone.stage().score(InMemoryStateStore(), risk_events(10)))


def test_environments_with_the_same_scoring_are_measured_once() -> None:
    labels = {scoring.of_environment(env).label for env in ENVIRONMENT_NAMES}
    assert sorted(scoring.configured()) == sorted(labels)


def test_a_sagemaker_shadow_is_measured_out_of_the_functions_cpu() -> None:
    """Staging's endpoint shadow scores on SageMaker (the cost model's own line), so staging measures as dev."""
    staging = load_environment("staging")
    assert staging.scoring.shadow_endpoint  # the case under test: staging runs one
    assert scoring.of_environment("staging") == scoring.of_environment("dev")
    assert "sagemaker" not in scoring.of_environment("staging").label
    assert all("sagemaker" not in s.model_version for s in scoring.of_environment("staging").stage().shadows)


def test_a_sagemaker_champion_is_refused_with_a_clear_error() -> None:
    s = _config({"scorer": "sagemaker", "sagemaker_endpoint": "risk-endpoint"})
    with pytest.raises(ValueError, match="SageMaker champion is scored by its endpoint"):
        s.stage()


def test_the_cost_model_reads_each_environments_own_score_figure(tmp_path: Path) -> None:
    figures = [
        {"bench": b, "name": n, "value": 1_000.0}
        for b, n in (cost.PARSE_FIGURE, cost.WCU_FIGURE, cost.RCU_FIGURE, cost.LOAD_FIGURE, *cost.SEND_FIGURES)
    ]
    rates = {label: 1_000.0 * (k + 2) for k, label in enumerate(scoring.configured())}
    figures += [
        {"bench": warmstate.BENCH, "name": warmstate.sdk_figure(label), "value": r} for label, r in rates.items()
    ]
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps({"figures": figures}))
    for env in ENVIRONMENT_NAMES:
        m = cost.measured(env, path, sizes=(1.0, 1.0, 1.0, 1.0))
        assert m.score_cpu_s == pytest.approx(1 / rates[scoring.of_environment(env).label])
    path.write_text(json.dumps({"figures": figures[:-1]}))
    missing = next(e for e in ENVIRONMENT_NAMES if scoring.of_environment(e).label == list(rates)[-1])
    with pytest.raises(LookupError, match="run `make bench ARGS=--only warmstate`"):
        cost.measured(missing, path, sizes=(1.0, 1.0, 1.0, 1.0))
