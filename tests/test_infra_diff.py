"""`make diff`: the template comparison (two small templates) and its one-line mistakes."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tools.infra_diff import Change, diff_assemblies, diff_resources, main, report


def _role(policy_actions: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {"Policies": [{"PolicyDocument": {"Statement": [{"Action": policy_actions}]}}]},
    }


BASE = {
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 512, "Code": {"S3Key": "a.zip"}}},
        "Role": _role(["sqs:SendMessage"]),
        "Old": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Meta": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v1"}},
    }
}
HEAD = {
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"MemorySize": 1024, "Code": {"S3Key": "b.zip"}, "FunctionName": "risk-scoring-dev-parse"},
        },
        "Role": _role(["sqs:SendMessage", "sqs:DeleteMessage"]),
        "Perm": {"Type": "AWS::Lambda::Permission", "Properties": {}},
        "Meta": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2"}},
    }
}


def test_added_removed_and_changed_resources_with_what_changed() -> None:
    changes = {c.logical_id: c for c in diff_resources(BASE, HEAD)}
    assert set(changes) == {"Fn", "Role", "Perm", "Old"}  # the queue is unchanged; CDK metadata is noise
    assert changes["Fn"] == Change(
        "changed", "Fn", "AWS::Lambda::Function", ("Code", "FunctionName", "MemorySize"), False, True
    )
    assert changes["Role"].security and not changes["Role"].replacement
    assert changes["Perm"].kind == "added" and changes["Perm"].security
    assert changes["Old"].kind == "removed" and not changes["Old"].security


def test_a_type_change_is_a_replacement() -> None:
    head = {"Resources": {"Queue": {"Type": "AWS::SNS::Topic", "Properties": {"VisibilityTimeout": 60}}}}
    [change] = diff_resources(BASE | {"Resources": {"Queue": BASE["Resources"]["Queue"]}}, head)
    assert change.replacement and change.properties == ("Type",)


def test_report_puts_security_and_replacement_first_per_stack() -> None:
    diffs = diff_assemblies({"S1": BASE, "Gone": BASE}, {"S1": HEAD, "New": HEAD})
    assert [(d.stack, d.status) for d in diffs] == [("Gone", "removed"), ("New", "added"), ("S1", "changed")]
    out = io.StringIO()
    report("dev", diffs, out)
    text = out.getvalue()
    assert text.startswith("== dev: ")
    s1 = text.split("S1 (changed): 1 added, 1 removed, 2 changed\n")[1].splitlines()
    assert s1 == [
        "  + [SECURITY] AWS::Lambda::Permission Perm",
        "  ~ [REPLACEMENT] AWS::Lambda::Function Fn: Code, FunctionName, MemorySize",
        "  ~ [SECURITY] AWS::IAM::Role Role: Policies",
        "  - AWS::SNS::Topic Old",
    ]


def test_no_change_says_so() -> None:
    out = io.StringIO()
    report("prod", diff_assemblies({"S": BASE}, {"S": BASE}), out)
    assert out.getvalue() == "== prod: no infrastructure change\n"


def test_an_unknown_base_ref_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base", "no-such-ref-xyz", "--envs", "dev"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("make diff: error: --base no-such-ref-xyz:")
