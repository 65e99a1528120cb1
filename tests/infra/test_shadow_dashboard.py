"""The "Champion vs shadows" section of the pipeline overview (issue 15, item 4): for every configured
shadow, agreement, band flips by direction, high-band share side by side and score distribution, all
read from the metrics the score handler emits (names and dimensions from ``risk.common.telemetry``).
The metric math is evaluated with the local evaluator on hand-worked counts."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from risk.common import telemetry
from stacks.config import REPO_ROOT, load_environment
from stacks.observability import (
    TITLE_SHADOW_AGREEMENT,
    TITLE_SHADOW_DISTRIBUTION,
    TITLE_SHADOW_FLIPS,
    TITLE_SHADOW_HIGH_SHARE,
    TITLE_SHADOWS,
)
from tests.infra.monitoring import monitor_imported
from tests.infra.test_observability import Synth, _synths, render_body, text, widget, widget_titles
from tools.local.alarms import evaluate_expression

pytestmark = pytest.mark.synth

BANDS = ("low", "medium", "high")


@pytest.fixture(scope="module", params=["dev", "prod"])
def obs(request: pytest.FixtureRequest) -> Synth:
    return _synths(request.param)


def _version(model_file: str) -> str:
    return str(json.loads((REPO_ROOT / "lambdas/risk/score/models" / model_file).read_text())["model_version"])


def _shadows(obs: Synth) -> list[str]:
    return [_version(sh.model_file) for sh in obs.cfg.scoring.shadows]


def _metrics(w: dict[str, Any]) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """(metric name, dimensions, options) of each plain metric of a widget (hidden inputs of math included)."""
    out = []
    for entry in w["properties"]["metrics"]:
        if isinstance(entry[0], dict):
            continue
        *fields, options = entry
        _, name, *pairs = fields
        out.append((name, dict(zip(pairs[::2], pairs[1::2], strict=True)), options))
    return out


def _expressions(w: dict[str, Any]) -> dict[str, str]:
    """label -> expression of each math line of a widget."""
    return {e[0].get("label", ""): e[0]["expression"] for e in w["properties"]["metrics"] if isinstance(e[0], dict)}


def _pair_ids(w: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(champion band, shadow band) -> the id the widget's math reads it under."""
    return {(d["champion_band"], d["shadow_band"]): o["id"] for n, d, o in _metrics(w) if n == "ShadowBands"}


def test_every_environment_has_the_section_and_one_row_per_shadow(obs: Synth) -> None:
    body = obs.dashboard("pipeline-overview")
    assert _shadows(obs), "every environment runs a shadow (cdk.json scoring.shadows)"
    assert f"## {TITLE_SHADOWS}" in text(body)
    for shadow in _shadows(obs):
        for title in (TITLE_SHADOW_AGREEMENT, TITLE_SHADOW_FLIPS, TITLE_SHADOW_HIGH_SHARE, TITLE_SHADOW_DISTRIBUTION):
            assert title.format(shadow=shadow) in widget_titles(body)


def test_the_section_reads_the_shadow_bands_matrix_of_each_shadow_for_this_environment(obs: Synth) -> None:
    body = obs.dashboard("pipeline-overview")
    for shadow in _shadows(obs):
        for title in (TITLE_SHADOW_AGREEMENT, TITLE_SHADOW_FLIPS, TITLE_SHADOW_HIGH_SHARE):
            for name, dims, options in _metrics(widget(body, title.format(shadow=shadow))):
                assert name == telemetry.SHADOW_BANDS.name
                assert set(dims) == set(telemetry.SHADOW_BANDS.dimensions)
                assert (dims["environment"], dims["service"], dims["model_version"]) == (
                    obs.cfg.name,
                    telemetry.SERVICE,
                    shadow,
                )
                assert options["stat"] == "Sum"
        ids = _pair_ids(widget(body, TITLE_SHADOW_AGREEMENT.format(shadow=shadow)))
        assert set(ids) == {(c, s) for c in BANDS for s in BANDS}  # all nine pairs


def test_agreement_is_the_diagonal_over_all_pairs_and_idle_periods_draw_no_point(obs: Synth) -> None:
    shadow = _shadows(obs)[0]
    w = widget(obs.dashboard("pipeline-overview"), TITLE_SHADOW_AGREEMENT.format(shadow=shadow))
    ids = _pair_ids(w)
    (agreement,) = [e for label, e in _expressions(w).items() if label.startswith("same band")]
    # 80 low/low, 10 medium/medium, 5 high/high agree; 3 low->high, 2 high->low flip: 95 of 100.
    counts = {ids[("low", "low")]: 80.0, ids[("medium", "medium")]: 10.0, ids[("high", "high")]: 5.0}
    counts |= {ids[("low", "high")]: 3.0, ids[("high", "low")]: 2.0}
    assert evaluate_expression(agreement, {k: counts.get(k) for k in ids.values()}) == 95.0
    if_call = ast.parse(agreement, mode="eval").body
    assert isinstance(if_call, ast.Call) and len(if_call.args) == 2  # no else: nothing compared, no point
    assert evaluate_expression(ast.unparse(if_call.args[0]), dict.fromkeys(ids.values())) == 0.0
    (compared,) = [e for label, e in _expressions(w).items() if label.startswith("events compared")]
    assert evaluate_expression(compared, {k: counts.get(k) for k in ids.values()}) == 100.0


def test_high_band_shares_are_the_champions_row_and_the_shadows_column_over_the_same_events(obs: Synth) -> None:
    shadow = _shadows(obs)[0]
    w = widget(obs.dashboard("pipeline-overview"), TITLE_SHADOW_HIGH_SHARE.format(shadow=shadow))
    ids = {(d["champion_band"], d["shadow_band"]): o["id"] for n, d, o in _metrics(w)}
    lines = _expressions(w)
    (champion,) = [e for label, e in lines.items() if label.endswith("(champion)")]
    (shadow_line,) = [e for label, e in lines.items() if label == f"{shadow} (shadow)"]
    # 200 events: champion high on 4 (hh 3, hm 1), shadow high on 10 (hh 3, lh 6, mh 1).
    counts = {ids[("low", "low")]: 180.0, ids[("medium", "medium")]: 9.0, ids[("high", "high")]: 3.0}
    counts |= {ids[("high", "medium")]: 1.0, ids[("low", "high")]: 6.0, ids[("medium", "high")]: 1.0}
    values = {k: counts.get(k) for k in ids.values()}
    assert evaluate_expression(champion, values) == 2.0
    assert evaluate_expression(shadow_line, values) == 5.0


def test_band_flips_are_the_six_off_diagonal_pairs_labelled_by_direction(obs: Synth) -> None:
    shadow = _shadows(obs)[0]
    w = widget(obs.dashboard("pipeline-overview"), TITLE_SHADOW_FLIPS.format(shadow=shadow))
    got = {(d["champion_band"], d["shadow_band"]): o["label"].split(":")[0] for _, d, o in _metrics(w)}
    rank = {b: k for k, b in enumerate(BANDS)}
    assert got == {(c, s): "up" if rank[s] > rank[c] else "down" for c in BANDS for s in BANDS if c != s}
    assert w["properties"]["stacked"] is True


def test_score_distribution_shows_every_bucket_of_the_champion_and_the_shadow_side_by_side(obs: Synth) -> None:
    shadow = _shadows(obs)[0]
    champion = _version(obs.cfg.scoring.model_file)
    w = widget(obs.dashboard("pipeline-overview"), TITLE_SHADOW_DISTRIBUTION.format(shadow=shadow))
    bars = [(d["score_bucket"], d["model_version"], d["role"]) for n, d, _ in _metrics(w)]
    assert {n for n, _, _ in _metrics(w)} == {telemetry.SCORES_BY_BUCKET.name}
    assert bars == [
        (b, v, role) for b in telemetry.SCORE_BUCKETS for v, role in ((champion, "champion"), (shadow, "shadow"))
    ]
    assert w["properties"]["view"] == "bar" and w["properties"]["setPeriodToTimeRange"] is True


def test_a_sagemaker_champion_is_found_by_search_and_labelled_as_known_at_run_time() -> None:
    cfg = load_environment("dev")
    cfg = replace(cfg, scoring=replace(cfg.scoring, scorer="sagemaker", sagemaker_endpoint="risk-xgb"))
    stack = cdk.Stack(cdk.App(), "ShadowsSageMaker", env=cdk.Environment(region=cfg.region))
    monitor_imported(stack, cfg)
    (dashboard,) = [
        r["Properties"]
        for r in Template.from_stack(stack).to_json()["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard" and r["Properties"]["DashboardName"].endswith("pipeline-overview")
    ]
    body = render_body(dashboard["DashboardBody"])
    shadow = _version(cfg.scoring.shadows[0].model_file)
    w = widget(body, TITLE_SHADOW_DISTRIBUTION.format(shadow=shadow))
    assert {d["role"] for _, d, _ in _metrics(w)} == {"shadow"}
    (search,) = _expressions(w).values()
    assert search.startswith("SEARCH('{RiskScoring,service,environment,model_version,role,score_bucket}")
    assert 'MetricName="ScoresByBucket"' in search and 'role="champion"' in search
    assert f'environment="{cfg.name}"' in search
    assert "SageMaker endpoint risk-xgb (version known at run time)" in text(body)
