"""The app as a whole: stack names, cdk-nag, config errors, dependencies between stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

from stacks.app_factory import PARTS, build_app, committed_context, parts, stack_name
from stacks.config import REPO_ROOT, ConfigError, read_environments
from stacks.guards import acknowledge
from tests.infra.conftest import ENVIRONMENTS, Synth, nag_findings


def test_stack_names_follow_the_convention(each_env: Synth) -> None:
    names = {part: stack.stack_name for part, stack in each_env.risk_app.stacks.items()}
    env_title = {"dev": "Dev", "staging": "Staging", "prod": "Prod"}[each_env.env]
    assert names == {part: f"RiskScoring-{env_title}-{part}" for part in parts(each_env.cfg)}
    assert set(PARTS) <= set(names)
    assert stack_name("prod", "Keys") == "RiskScoring-Prod-Keys"


def test_cdk_nag_reports_no_unacknowledged_findings(each_env: Synth) -> None:
    assert each_env.nag_failure is None, f"cdk-nag findings in {each_env.env}:\n{each_env.nag_failure}"


def test_every_stack_targets_the_configured_region_without_lookups(each_env: Synth) -> None:
    for stack in each_env.risk_app.stacks.values():
        assert stack.region == each_env.cfg.region
    # No context lookups happened: nothing was written back to the context (no cdk.context.json needs).
    assert not (REPO_ROOT / "cdk.context.json").exists()


def test_termination_protection_only_in_prod(dev: Synth, prod: Synth) -> None:
    assert all(s.termination_protection for s in prod.risk_app.stacks.values())
    assert not any(s.termination_protection for s in dev.risk_app.stacks.values())


def test_processing_deploys_after_the_schema(dev: Synth) -> None:
    processing = dev.risk_app.stacks["Processing"]
    assert dev.risk_app.stacks["Schema"] in processing.dependencies


def _broken(env: str, path: tuple[str, ...], value: object) -> dict[str, object]:
    environments = json.loads(json.dumps(read_environments()))
    node = environments[env]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return environments


@pytest.mark.parametrize(
    ("path", "value", "named_key"),
    [
        (("queues", "max_receive_count"), 0, "environments.dev.queues.max_receive_count"),
        (("kinesis", "capacity_mode"), "FAST", "environments.dev.kinesis.capacity_mode"),
        (("redshift", "max_rpu"), 4, "environments.dev.redshift.max_rpu"),
        (("redshift", "statement_timeout_s"), 60, "environments.dev.redshift.statement_timeout_s"),
        (("redshift", "bulk_load_min_rows"), 0, "environments.dev.redshift.bulk_load_min_rows"),
        (("log_retention_days",), 10, "environments.dev.log_retention_days"),
        (("availability_zones",), ["eu-west-1a", "eu-west-1b"], "environments.dev.availability_zones"),
        (("functions", "parse", "batch_size"), 100, "environments.dev.functions.parse.batch_size"),
        (("alarms", "subscriptions", "warning"), ["not-an-address"], "environments.dev.alarms.subscriptions.warning"),
        (("alarms", "subscriptions", "critical"), [], "environments.dev.alarms.subscriptions.critical"),
        (("removal_policy",), "keep", "environments.dev.removal_policy"),
        # a dead-lettered message keeps its first enqueue time: the work queue must expire first
        (("queues", "retention_days"), 14, "environments.dev.queues.retention_days"),
        (("redshift", "rpu_hours_per_day"), 0, "environments.dev.redshift.rpu_hours_per_day"),
        (("alarms", "failing_minutes"), 6, "environments.dev.alarms.failing_minutes"),
        # a window as long as the visibility timeout would count one message's retry twice
        (("alarms", "failing_window_minutes"), 7, "environments.dev.alarms.failing_window_minutes"),
        (("alarms", "runbook_base_url"), "git.example.com/x", "environments.dev.alarms.runbook_base_url"),
        (("archive", "raw_expiry_days"), 0, "environments.dev.archive.raw_expiry_days"),
        # shorter than the DLQs keep a message (14 days): a redriven duplicate would count twice
        (("state_dedupe_horizon_days",), 7, "environments.dev.state_dedupe_horizon_days"),
        (("archive", "object_lock_retention_days"), 7, "environments.dev.archive.object_lock_retention_days"),
    ],
)
def test_invalid_config_fails_naming_the_key(path: tuple[str, ...], value: object, named_key: str) -> None:
    with pytest.raises(ConfigError, match=named_key.replace(".", r"\.")):
        build_app("dev", bundle=False, environments=_broken("dev", path, value))


def test_prod_must_retain() -> None:
    with pytest.raises(ConfigError, match=r"environments\.prod\.removal_policy: must be retain"):
        build_app("prod", bundle=False, environments=_broken("prod", ("removal_policy",), "destroy"))


def test_prod_object_lock_needs_a_retention_no_longer_than_the_shortest_expiry() -> None:
    with pytest.raises(ConfigError, match=r"environments\.prod\.archive\.object_lock_retention_days: required"):
        build_app("prod", bundle=False, environments=_broken("prod", ("archive", "object_lock_retention_days"), None))
    with pytest.raises(ConfigError, match=r"object_lock_retention_days: 91 is longer than the shortest expiry"):
        build_app("prod", bundle=False, environments=_broken("prod", ("archive", "object_lock_retention_days"), 91))


def test_app_py_exits_non_zero_with_the_key_for_an_unknown_environment() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": "qa"}), "CDK_OUTDIR": "/nonexistent"}
    env["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py")], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert "env: unknown environment 'qa'" in result.stderr


def test_every_environment_is_covered() -> None:
    assert set(read_environments()) == set(ENVIRONMENTS)


def test_the_nag_check_sees_findings_and_acknowledgements(tmp_path: Path) -> None:
    """Guards the guard: an unacknowledged finding reaches nag_findings, an acknowledged one does not."""
    app = App(context=committed_context(), outdir=str(tmp_path))
    stack = Stack(app, "Probe")
    sqs.Queue(stack, "Plain")  # no DLQ (SQS3), no TLS-only policy (SQS4)
    acknowledged = sqs.Queue(stack, "Acknowledged", enforce_ssl=True)
    acknowledge(acknowledged, "AwsSolutions-SQS3", "probe: acknowledged on purpose")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    findings = nag_findings(tmp_path)
    assert "error AwsSolutions-SQS3: Probe/Plain/Resource" in findings
    assert "error AwsSolutions-SQS4: Probe/Plain/Resource" in findings
    assert not [f for f in findings if "Probe/Acknowledged" in f]


def test_every_function_of_ours_logs_at_info_in_every_environment(each_env: Synth) -> None:
    """DEBUG lines may carry payloads: no deployed environment logs at DEBUG, dev included."""
    levels = {
        (part, logical_id): fn["Properties"]["Environment"]["Variables"].get("POWERTOOLS_LOG_LEVEL")
        for part, logical_id, fn in each_env.all_resources("AWS::Lambda::Function")
        if "POWERTOOLS_SERVICE_NAME" in fn["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert len(levels) >= 4  # parse, score, load, migrate
    assert set(levels.values()) == {"INFO"}, levels
