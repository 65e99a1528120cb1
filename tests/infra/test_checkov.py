"""checkov on every synthesized template of every environment: no failed check, at least 95 % passing.

The templates are the ones the infra tests synthesize (tests/infra/conftest.py); checkov runs from its
own venv (``make checkov`` / ``make install`` create ``.venv-checkov``), once for all environments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from stacks.app_factory import parts, stack_name
from stacks.config import load_environment
from tests.infra.conftest import ENVIRONMENTS, Synth
from tools.checkov import MIN_PASS_RATIO, TemplateResult, run_checkov, summarise

pytestmark = pytest.mark.synth


@pytest.fixture(scope="session")
def checkov_results(
    synth_env: Callable[[str], Synth], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, TemplateResult]:
    """Template file name -> checkov's counts, for every stack of every environment."""
    directory = tmp_path_factory.mktemp("checkov")
    for env in ENVIRONMENTS:
        for part, template in synth_env(env).raw.items():
            (directory / f"{stack_name(env, part)}.template.json").write_text(json.dumps(template))
    return {r.template: r for r in run_checkov([directory])}


def test_checkov_reports_on_every_template_of_every_environment(checkov_results: dict[str, TemplateResult]) -> None:
    expected = {
        f"{stack_name(env, part)}.template.json" for env in ENVIRONMENTS for part in parts(load_environment(env))
    }
    assert set(checkov_results) == expected
    assert all(r.passed > 0 for r in checkov_results.values())


def test_no_checkov_check_fails_on_any_template(checkov_results: dict[str, TemplateResult]) -> None:
    failing = {name: r.failures for name, r in checkov_results.items() if r.failed}
    assert failing == {}


def test_at_least_95_percent_of_checkov_checks_pass_on_every_template_skips_counted_against(
    checkov_results: dict[str, TemplateResult],
) -> None:
    below = {
        name: f"{r.passed} passed, {r.skipped} skipped ({r.pass_ratio:.1%})"
        for name, r in checkov_results.items()
        if r.pass_ratio < MIN_PASS_RATIO
    }
    assert below == {}


def test_the_ratio_counts_skips_and_failures_as_not_passing(tmp_path: Path) -> None:
    def check(check_id: str) -> dict[str, str]:
        return {"check_id": check_id, "resource": "AWS::S3::Bucket.B", "file_path": "/x/A.template.json"}

    report = {
        "check_type": "cloudformation",
        "results": {
            "passed_checks": [check(f"P{i}") for i in range(17)],
            "failed_checks": [check("F")],
            "skipped_checks": [check("S"), check("T")],
        },
    }
    (result,) = summarise([report])
    assert (result.template, result.passed, result.failed, result.skipped) == ("A.template.json", 17, 1, 2)
    assert result.pass_ratio == pytest.approx(0.85)
    assert result.failures == ("F AWS::S3::Bucket.B",)
    assert not result.ok
