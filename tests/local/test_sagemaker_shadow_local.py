"""The local run has no SageMaker: staging's endpoint shadow is left out of the score settings, with one line
that says so, and the bundled shadows stay."""

from __future__ import annotations

import pytest

from risk.common import settings
from stacks.config import load_environment
from tools.local.provision import LocalResources


def _resources(env: str) -> LocalResources:
    return LocalResources(
        cfg=load_environment(env),
        region="eu-west-1",
        stream_name="events",
        stream_arn="arn:aws:kinesis:eu-west-1:123456789012:stream/events",
        shard_count=1,
        bucket="archive",
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
        state_table="state",
        pii_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:pii",
        queue_urls={"parsed": "https://sqs/parsed.fifo", "scored": "https://sqs/scored"},
    )


def test_staging_locally_skips_the_endpoint_shadow_in_one_line_and_keeps_the_bundled_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = _resources("staging").lambda_environment("score")
    assert values[settings.SHADOW_SCORERS] == "logistic:lr-v1.json"
    [line] = capsys.readouterr().err.splitlines()
    assert (
        line == "local run: shadow sagemaker:risk-scoring-staging-xgb-v2 skipped (no SageMaker here; it scores in AWS)"
    )


def test_dev_locally_keeps_its_shadows_and_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    values = _resources("dev").lambda_environment("score")
    assert values[settings.SHADOW_SCORERS] == "logistic:lr-v1.json"
    assert capsys.readouterr().err == ""
