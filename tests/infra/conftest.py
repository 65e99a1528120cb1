"""Synthesize each environment's app once per session (bundle=False, cdk-nag on) and share the templates.

The app is the one ``app.py`` builds (``stacks.app_factory.build_app`` with cdk.json's context and
feature flags). Synthesis writes into a temporary outdir, so cdk-nag's validation report survives
a failed validation and the nag test can print every unacknowledged finding.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stacks.config import REPO_ROOT

# jsii runs on the pinned Node 22 (node_modules/.bin), as under `make`; set before aws_cdk is imported.
_NODE_BIN = str(REPO_ROOT / "node_modules" / ".bin")
if _NODE_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _NODE_BIN + os.pathsep + os.environ.get("PATH", "")

from aws_cdk import App  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from stacks.app_factory import RiskApp, build_app, committed_context, parts, stack_name  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass
class Synth:
    """One environment's synthesized app: raw templates and assertion Templates by stack part."""

    env: str
    risk_app: RiskApp
    raw: dict[str, dict[str, Any]]
    nag_failure: str | None
    _templates: dict[str, Template] = field(default_factory=dict)

    @property
    def cfg(self) -> Any:
        return self.risk_app.cfg

    def template(self, part: str) -> Template:
        if part not in self._templates:
            self._templates[part] = Template.from_json(self.raw[part])
        return self._templates[part]

    def resources(self, part: str, type_: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, of one type, in one stack's raw template."""
        return {k: v for k, v in self.raw[part]["Resources"].items() if v["Type"] == type_}

    def all_resources(self, type_: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(part, logical id, resource) of one type across every stack."""
        return [(part, k, v) for part in self.raw for k, v in self.resources(part, type_).items()]

    def logical_id(self, construct: Any) -> str:
        child = construct.node.default_child or construct
        return str(child.stack.resolve(child.logical_id))


def nag_findings(outdir: Path) -> list[str]:
    """Every unacknowledged finding (errors and warnings) in the validation report, one line each."""
    report_file = outdir / "validation-report.json"
    if not report_file.exists():
        return []
    lines = []
    for plugin in json.loads(report_file.read_text()).get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                lines.append(f"{violation['severity']} {violation['ruleName']}: {construct['constructPath']}")
    return lines


def synthesize(env: str, outdir: Path) -> Synth:
    app = App(context=committed_context(), outdir=str(outdir))
    risk_app = build_app(env, bundle=False, app=app)
    failed: str | None = None
    try:
        app.synth()
    except RuntimeError as error:  # jsii surfaces cdk's ValidationFailed as RuntimeError
        if "ValidationFailed" not in str(error):
            raise
        failed = str(error)
    findings = nag_findings(outdir)
    failure = "\n".join(findings) if findings else failed
    raw = {
        part: json.loads((outdir / f"{stack_name(env, part)}.template.json").read_text())
        for part in parts(risk_app.cfg)
    }
    return Synth(env=env, risk_app=risk_app, raw=raw, nag_failure=failure)


@pytest.fixture(scope="session")
def synth_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Synth]]:
    """``synth_env("prod")``: each environment is synthesized at most once per session."""
    cache: dict[str, Synth] = {}

    def get(env: str) -> Synth:
        if env not in cache:
            cache[env] = synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}"))
        return cache[env]

    yield get


@pytest.fixture(scope="session")
def dev(synth_env: Callable[[str], Synth]) -> Synth:
    return synth_env("dev")


@pytest.fixture(scope="session")
def staging(synth_env: Callable[[str], Synth]) -> Synth:
    return synth_env("staging")


@pytest.fixture(scope="session")
def prod(synth_env: Callable[[str], Synth]) -> Synth:
    return synth_env("prod")


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def each_env(request: pytest.FixtureRequest, synth_env: Callable[[str], Synth]) -> Synth:
    return synth_env(request.param)
