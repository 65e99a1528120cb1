"""A score function configured for a SageMaker endpoint may invoke exactly that endpoint, nothing else;
its fallbacks to the bundled model are alarmed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from aws_cdk import App

from stacks.app_factory import build_app, committed_context
from stacks.config import CDK_JSON

pytestmark = pytest.mark.synth

ENDPOINT = "Risk-XGB-v1"


def _sagemaker_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for res in template["Resources"].values():
        if res["Type"] != "AWS::IAM::Policy":
            continue
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if any(a.startswith("sagemaker:") for a in actions):
                out.append(st)
    return out


def test_score_role_may_invoke_exactly_the_configured_endpoint_its_fallback_alarms_and_none_without_one() -> None:
    environments = copy.deepcopy(json.loads(CDK_JSON.read_text())["context"]["environments"])
    environments["staging"]["scoring"].update(scorer="sagemaker", sagemaker_endpoint=ENDPOINT)
    app = App(context=committed_context())
    risk_app = build_app("staging", bundle=False, app=app, environments=environments)
    processing = risk_app.stacks["Processing"]
    template = app.synth().get_stack_by_name(processing.stack_name).template
    [statement] = _sagemaker_statements(template)
    alarms = [
        res["Properties"]
        for stack in risk_app.stacks.values()
        for res in app.synth().get_stack_by_name(stack.stack_name).template["Resources"].values()
        if res["Type"] == "AWS::CloudWatch::Alarm"
    ]
    [fallback] = [a for a in alarms if a.get("AlarmName", "").endswith("-scorer-fallback")]
    assert fallback["MetricName"] == "ScorerFallbacks" and fallback["Threshold"] == 0
    assert "docs/runbooks/model-rollback.md" in fallback["AlarmDescription"]
    assert statement["Action"] == "sagemaker:InvokeEndpoint" and statement["Effect"] == "Allow"
    resource = json.dumps(statement["Resource"])
    assert ":sagemaker:" in resource and f":endpoint/{ENDPOINT.lower()}" in resource and "*" not in resource

    plain = App(context=committed_context())
    default = build_app("dev", bundle=False, app=plain)
    assert (
        _sagemaker_statements(plain.synth().get_stack_by_name(default.stacks["Processing"].stack_name).template) == []
    )
