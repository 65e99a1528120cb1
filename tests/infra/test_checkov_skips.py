"""checkov acknowledgements (stacks/checkov_skips.json): every entry lands on resources, with its reason."""

from __future__ import annotations

from collections import Counter

from stacks.checkov import load_skips
from tests.infra.conftest import Synth


def _skipped(each_env: Synth) -> Counter[tuple[str, str, str]]:
    found: Counter[tuple[str, str, str]] = Counter()
    for part, template in each_env.raw.items():
        for logical_id, resource in template["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip["comment"]) >= 80, (part, logical_id, skip)  # a specific reason, not a label
                found[(skip["id"], part, logical_id)] += 1
    return found


def test_every_skip_applies_to_a_resource_of_its_type_and_nothing_else(each_env: Synth) -> None:
    skipped = _skipped(each_env)
    assert all(n == 1 for n in skipped.values()), skipped  # no resource gets the same skip twice
    skips = [s for s in load_skips() if s.part in each_env.raw]  # SageMaker: only where configured
    for skip in skips:
        hits = [
            logical_id
            for (check, part, logical_id) in skipped
            if check == skip.check and part == skip.part and logical_id.startswith(skip.prefix)
        ]
        assert len(hits) == 1, (skip, hits)  # exactly one resource per listed prefix: no stale entry
        resource = each_env.raw[skip.part]["Resources"][hits[0]]
        assert resource["Type"] == skip.type
    assert len(skipped) == len(skips)


def test_no_check_is_skipped_for_storage_keys_or_network(each_env: Synth) -> None:
    """Skips are limited to Lambda placement and concurrency settings, the VPC ENI actions, and the HTTPS
    API's response cache (POST only) and its webhook method's authorizer (the HMAC signature is the auth);
    where a SageMaker endpoint is configured, its model's network isolation, which serverless endpoints lack."""
    endpoint = "SageMaker" in each_env.raw
    types = {each_env.raw[part]["Resources"][logical_id]["Type"] for (_, part, logical_id) in _skipped(each_env)}
    assert types == {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::ApiGateway::Stage", "AWS::ApiGateway::Method"} | (
        {"AWS::SageMaker::Model"} if endpoint else set()
    )
    checks = {check for (check, _, _) in _skipped(each_env)}
    assert checks == {"CKV_AWS_115", "CKV_AWS_117", "CKV_AWS_111", "CKV_AWS_120", "CKV_AWS_59"} | (
        {"CKV_AWS_370"} if endpoint else set()
    )
