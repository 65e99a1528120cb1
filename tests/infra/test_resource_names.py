"""Every resource name the README, the docs and the runbooks give an operator exists as deployed.

An operator in an incident searches for ``/aws/lambda/risk-scoring-<env>-parse`` or redrives
``risk-scoring-prod-scored-dlq``: each such name, with ``<env>`` (and ``<stage>``) filled in, must be
a physical name in that environment's synthesized templates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from stacks.config import REPO_ROOT
from tests.infra.conftest import Synth

pytestmark = pytest.mark.synth

DOCS = ["README.md", *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs").rglob("*.md"))]
MENTION = re.compile(r"(?:/aws/lambda/)?risk-scoring-(?:<env>|dev|staging|prod)(?:-[a-z0-9<>-]*[a-z0-9>])?(?:\.fifo)?")
STAGES = ("parse", "score", "load")
# Names of the local run only (moto), shown in docs/local-run.md's sample output; in AWS the stream's
# and the bucket's names are generated (the runbooks write <stream> and <archive bucket>).
LOCAL_ONLY = {"risk-scoring-dev-archive-local", "risk-scoring-dev-events"}


def mentioned_names() -> dict[str, set[str]]:
    """Name as written -> the docs that write it."""
    found: dict[str, set[str]] = {}
    for doc in DOCS:
        for name in MENTION.findall((REPO_ROOT / doc).read_text()):
            if name not in LOCAL_ONLY:
                found.setdefault(name, set()).add(doc)
    return found


def expand(name: str, env: str) -> list[str]:
    """The concrete names of a mention in one environment ([] if it names another environment)."""
    concrete = re.match(r"(?:/aws/lambda/)?risk-scoring-(dev|staging|prod)\b", name)
    if concrete and concrete.group(1) != env:
        return []
    name = name.replace("<env>", env)
    names = [name.replace("<stage>", stage) for stage in STAGES] if "<stage>" in name else [name]
    assert all("<" not in n for n in names), f"{name}: a placeholder this test cannot fill in"
    return names


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str):
        yield key, value


def physical_names(synth: Synth) -> set[str]:
    """Every literal ``...Name`` property (FunctionName, LogGroupName, QueueName, AlarmName, ...)."""
    names = set()
    for template in synth.raw.values():
        for resource in template["Resources"].values():
            for key, value in _strings(resource.get("Properties", {})):
                if key.endswith("Name"):
                    names.add(value)
    return names


def test_the_docs_mention_the_names_an_operator_needs() -> None:
    mentioned = mentioned_names()
    for name in ("/aws/lambda/risk-scoring-<env>-parse", "risk-scoring-prod-scored-dlq"):
        assert name in mentioned, name


def test_every_name_in_the_docs_is_deployed(each_env: Synth) -> None:
    deployed = physical_names(each_env)
    missing = {
        concrete: sorted(docs)
        for name, docs in mentioned_names().items()
        for concrete in expand(name, each_env.env)
        if concrete not in deployed
    }
    assert not missing, f"named in the docs but not in the {each_env.env} templates: {missing}"


def test_functions_and_their_log_groups_have_the_config_names(each_env: Synth) -> None:
    functions = {
        r["Properties"]["FunctionName"]
        for _, _, r in each_env.all_resources("AWS::Lambda::Function")
        if isinstance(r["Properties"].get("FunctionName"), str)
    }
    log_groups = {r["Properties"].get("LogGroupName") for _, _, r in each_env.all_resources("AWS::Logs::LogGroup")}
    for stage in (*STAGES, "migrate"):
        name = each_env.cfg.function_name(stage)
        assert name == f"risk-scoring-{each_env.env}-{stage}"
        assert name in functions
        assert f"/aws/lambda/{name}" in log_groups
