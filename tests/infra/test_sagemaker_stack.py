"""The SageMaker stack (stacks/sagemaker.py): registry, approved package on the region's built-in XGBoost
image, a model with a least-privilege execution role, a serverless endpoint named by config, which the
score role may invoke and nothing else; only where cdk.json's scoring.sagemaker is set (staging)."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from risk.common import settings
from risk.score.vector import FEATURE_NAMES
from stacks import config
from stacks.config import CDK_JSON, SAGEMAKER_MODEL_MEMBER, ConfigError, load_environment
from stacks.observability import (
    TITLE_SHADOW_AGREEMENT,
    TITLE_SHADOW_DISTRIBUTION,
    TITLE_SHADOW_FLIPS,
    TITLE_SHADOW_HIGH_SHARE,
)
from stacks.sagemaker import xgboost_image_uri
from tests.infra.conftest import Synth
from tests.infra.test_observability import render_body

ENDPOINT = "risk-scoring-staging-xgb-v2"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"


def _one(synth: Synth, type_: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = synth.resources("SageMaker", type_).items()
    return logical_id, resource["Properties"]


def _score_function(synth: Synth) -> dict[str, Any]:
    [fn] = [
        r["Properties"]
        for r in synth.resources("Processing", "AWS::Lambda::Function").values()
        if r["Properties"].get("FunctionName") == synth.cfg.function_name("score")
    ]
    return fn


def _sagemaker_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        st
        for res in template["Resources"].values()
        if res["Type"] == "AWS::IAM::Policy"
        for st in res["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("sagemaker:") for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]))
    ]


@pytest.mark.synth
def test_registry_holds_an_approved_csv_package_of_the_artifact_on_the_regions_xgboost_image(staging: Synth) -> None:
    group_id, group = _one(staging, "AWS::SageMaker::ModelPackageGroup")
    _, package = _one(staging, "AWS::SageMaker::ModelPackage")
    assert group["ModelPackageGroupName"] == package["ModelPackageGroupName"] == "risk-scoring-staging-models"
    assert package["ModelApprovalStatus"] == "Approved"
    spec = package["InferenceSpecification"]
    [container] = spec["Containers"]
    assert container["Image"] == IMAGE
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv"]
    stack = staging.risk_app.stacks["SageMaker"]
    assert f"/{stack.artifact.asset_hash}.gz" in json.dumps(container["ModelDataUrl"])  # the tarball's asset
    artifact = staging.cfg.scoring.sagemaker.artifact_path
    assert package["CustomerMetadataProperties"] == {
        "model_version": "xgb-v2",
        "artifact_sha256": hashlib.sha256(artifact.read_bytes()).hexdigest(),
    }
    assert group_id in staging.raw["SageMaker"]["Resources"]["Package"].get("DependsOn", [])


def test_the_image_is_the_built_in_xgboost_of_each_region_and_an_unknown_region_is_one_line() -> None:
    assert xgboost_image_uri("eu-west-1", "3.0-5") == IMAGE
    assert (
        xgboost_image_uri("us-east-1", "1.7-1")
        == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    )
    assert xgboost_image_uri("cn-north-1", "3.0-5").endswith(
        ".dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.0-5"
    )
    with pytest.raises(ConfigError, match=r"^region xx-nowhere-1: no built-in XGBoost image listed in [\w.-]+$"):
        xgboost_image_uri("xx-nowhere-1", "3.0-5")
    with pytest.raises(ConfigError, match=r"xgboost_image_tag: '0\.9' is not one of"):
        xgboost_image_uri("eu-west-1", "0.9")


@pytest.mark.synth
def test_the_model_comes_from_the_package_and_runs_as_its_own_role(staging: Synth) -> None:
    _, model = _one(staging, "AWS::SageMaker::Model")
    role_id, _ = _one(staging, "AWS::IAM::Role")
    assert model["PrimaryContainer"] == {"ModelPackageName": {"Fn::GetAtt": ["Package", "ModelPackageArn"]}}
    assert model["ExecutionRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "VpcConfig" not in model and "EnableNetworkIsolation" not in model  # serverless supports neither


@pytest.mark.synth
def test_endpoint_config_is_serverless_with_configured_memory_and_concurrency_under_a_rotated_cmk(
    staging: Synth,
) -> None:
    _, config = _one(staging, "AWS::SageMaker::EndpointConfig")
    [variant] = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    assert variant["ModelName"] == {"Fn::GetAtt": ["Model", "ModelName"]}
    key_id, key = _one(staging, "AWS::KMS::Key")
    assert config["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} and key["EnableKeyRotation"] is True


@pytest.mark.synth
def test_the_endpoint_has_the_name_the_score_function_calls(staging: Synth) -> None:
    _, endpoint = _one(staging, "AWS::SageMaker::Endpoint")
    assert endpoint["EndpointName"] == ENDPOINT == staging.cfg.scoring.sagemaker.endpoint_name
    assert endpoint["EndpointConfigName"] == {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]}
    variables = _score_function(staging)["Environment"]["Variables"]
    assert f"sagemaker:{ENDPOINT}" in variables[settings.SHADOW_SCORERS].split(",")
    assert variables[settings.SCORER] == "xgboost" and settings.SAGEMAKER_ENDPOINT not in variables  # a shadow
    processing = staging.risk_app.stacks["Processing"]
    assert staging.risk_app.stacks["SageMaker"] in processing.dependencies


@pytest.mark.synth
def test_the_overview_compares_the_endpoint_shadow_with_the_champion(staging: Synth) -> None:
    [body] = [
        render_body(r["Properties"]["DashboardBody"])
        for r in staging.resources("Monitoring", "AWS::CloudWatch::Dashboard").values()
        if r["Properties"]["DashboardName"] == "risk-scoring-staging-pipeline-overview"
    ]
    titles = {w["properties"].get("title") for w in body["widgets"]}
    version = f"sagemaker:{ENDPOINT}:AllTraffic"  # what SageMakerScorer writes for the one variant served
    for title in (TITLE_SHADOW_AGREEMENT, TITLE_SHADOW_FLIPS, TITLE_SHADOW_HIGH_SHARE, TITLE_SHADOW_DISTRIBUTION):
        assert title.format(shadow=version) in titles
    bands = [
        m
        for w in body["widgets"]
        if w["properties"].get("title") == TITLE_SHADOW_FLIPS.format(shadow=version)
        for m in w["properties"]["metrics"]
        if not isinstance(m[0], dict) and m[1] == "ShadowBands"
    ]
    assert bands and all(m[m.index("model_version") + 1] == version for m in bands)


@pytest.mark.synth
def test_the_execution_role_reads_exactly_the_artifact_pulls_exactly_the_image_and_writes_its_logs(
    staging: Synth,
) -> None:
    role_id, role = _one(staging, "AWS::IAM::Role")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    [policy] = [
        p["Properties"]
        for p in staging.resources("SageMaker", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
    asset = staging.risk_app.stacks["SageMaker"].artifact
    log_id, log_group = _one(staging, "AWS::Logs::LogGroup")
    assert log_group["LogGroupName"] == f"/aws/sagemaker/Endpoints/{ENDPOINT}"
    assert set(statements) == {"ReadTheArtifact", "PullTheImage", "EcrLogin", "WriteOwnLogGroup"}
    read = statements["ReadTheArtifact"]
    assert read["Action"] == "s3:GetObject" and json.dumps(read["Resource"]).endswith(f'"/{asset.asset_hash}.gz"]]}}')
    pull = statements["PullTheImage"]
    assert sorted(pull["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert pull["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":ecr:eu-west-1:141502667606:repository/sagemaker-xgboost"],
        ]
    }
    assert statements["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"  # IAM admits only Resource "*" for it
    logs = statements["WriteOwnLogGroup"]
    assert sorted(logs["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert logs["Resource"] == {"Fn::GetAtt": [log_id, "Arn"]}
    assert all(st["Effect"] == "Allow" for st in statements.values())


@pytest.mark.synth
def test_the_score_role_may_invoke_exactly_the_provisioned_endpoint(staging: Synth) -> None:
    [statement] = _sagemaker_statements(staging.raw["Processing"])
    assert statement["Action"] == "sagemaker:InvokeEndpoint" and statement["Effect"] == "Allow"
    resource = json.dumps(statement["Resource"])
    assert resource.count(":endpoint/") == 1 and f':endpoint/{ENDPOINT}"' in resource and "*" not in resource


@pytest.mark.synth
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dev_and_prod_have_no_sagemaker_stack_resources_or_permissions(
    env: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(env)
    assert "SageMaker" not in synth.raw and "SageMaker" not in synth.risk_app.stacks
    types = {r["Type"] for template in synth.raw.values() for r in template["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::SageMaker::")}
    assert _sagemaker_statements(synth.raw["Processing"]) == []
    assert "sagemaker:" not in _score_function(synth)["Environment"]["Variables"].get(settings.SHADOW_SCORERS, "")


def _staging(**sagemaker: Any) -> dict[str, Any]:
    environments = copy.deepcopy(json.loads(CDK_JSON.read_text())["context"]["environments"])
    environments["staging"]["scoring"]["sagemaker"].update(sagemaker)
    return environments


def test_as_champion_the_endpoint_becomes_the_scorer_and_leaves_the_shadows() -> None:
    environments = _staging(**{"as": "champion"})
    environments["staging"]["scoring"]["scorer"] = "sagemaker"
    scoring = load_environment("staging", environments).scoring
    assert scoring.sagemaker_endpoint == ENDPOINT and scoring.shadow_endpoint is None
    assert scoring.invoked_endpoints == (ENDPOINT,)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"as": "champion"}, r"scoring\.sagemaker\.as: champion needs scoring\.scorer sagemaker, got 'xgboost'"),
        ({"memory_mb": 1500}, r"scoring\.sagemaker\.memory_mb: 1500 is not a multiple of 1024"),
        ({"memory_mb": 8192}, r"scoring\.sagemaker\.memory_mb: 8192 is outside \[1024, 6144\]"),
        ({"max_concurrency": 0}, r"scoring\.sagemaker\.max_concurrency: 0 is outside \[1, 200\]"),
        ({"artifact": "xgb-v9"}, r"scoring\.sagemaker\.artifact: no artifacts/sagemaker/xgb-v9/model\.tar\.gz; "),
        (
            {"xgboost_image_tag": "0.90-1"},
            r"scoring\.sagemaker\.xgboost_image_tag: '0\.90-1' is not one of 1\.7-1, 3\.0-5",
        ),
        ({"as": "both"}, r"scoring\.sagemaker\.as: 'both' is not one of shadow, champion"),
    ],
)
def test_a_bad_sagemaker_block_is_refused_in_one_line_naming_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^environments\\.staging\\.{message}") as raised:
        load_environment("staging", _staging(**change))
    assert "\n" not in str(raised.value)


def test_an_artifact_trained_on_other_inputs_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scorer sends FEATURE_NAMES by position: xgb-v1's 26 inputs (before log_seconds_since_last) would
    score shifted columns, silently; the config refuses such an artifact at synth."""
    model = json.dumps({"learner": {"feature_names": list(FEATURE_NAMES[:-1])}}).encode()
    (tmp_path / "xgb-v1").mkdir()
    with tarfile.open(tmp_path / "xgb-v1" / "model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(SAGEMAKER_MODEL_MEMBER)
        info.size = len(model)
        tar.addfile(info, io.BytesIO(model))
    monkeypatch.setattr(config, "SAGEMAKER_ARTIFACTS", tmp_path)
    expected = (
        rf"^environments\.staging\.scoring\.sagemaker\.artifact: xgb-v1 takes {len(FEATURE_NAMES) - 1} inputs, "
        rf"not the {len(FEATURE_NAMES)} the scorer sends"
    )
    with pytest.raises(ConfigError, match=expected) as raised:
        load_environment("staging", _staging(artifact="xgb-v1"))
    assert "\n" not in str(raised.value)
    # the configured artifact itself passes the same check
    monkeypatch.undo()
    assert load_environment("staging", _staging()).scoring.sagemaker is not None
