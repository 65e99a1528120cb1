"""The schema custom resource and the monitoring stack's alarm topic."""

from __future__ import annotations

from pathlib import Path

from stacks.schema import MIGRATE_HANDLER, schema_hash
from tests.infra.conftest import Synth


def test_schema_resource_carries_the_migration_hash(each_env: Synth) -> None:
    (resource,) = each_env.resources("Schema", "Custom::WarehouseSchema").values()
    props = resource["Properties"]
    assert props["SchemaHash"] == schema_hash()
    assert props["Database"] == each_env.cfg.redshift.database
    assert "Fn::ImportValue" in props["Workgroup"]


def test_schema_hash_changes_with_any_migration(tmp_path: Path) -> None:
    (tmp_path / "V001__a.sql").write_text("CREATE TABLE a (x INT);")
    before = schema_hash(tmp_path)
    (tmp_path / "V002__b.sql").write_text("CREATE TABLE b (x INT);")
    added = schema_hash(tmp_path)
    (tmp_path / "V002__b.sql").write_text("CREATE TABLE b (y INT);")
    assert len({before, added, schema_hash(tmp_path)}) == 3


def test_migration_function_runs_in_the_vpc_with_its_own_security_group(dev: Synth) -> None:
    schema = dev.risk_app.stacks["Schema"]
    fn = dev.resources("Schema", "AWS::Lambda::Function")[dev.logical_id(schema.migrator.function)]["Properties"]
    assert fn["Handler"] == MIGRATE_HANDLER == "risk.migrate.handler.on_event"
    assert fn["Architectures"] == ["arm64"] and fn["TracingConfig"] == {"Mode": "Active"}
    (sg,) = fn["VpcConfig"]["SecurityGroupIds"]
    assert "MigratorSecurityGroup" in str(sg)
    variables = fn["Environment"]["Variables"]
    assert variables["REDSHIFT_DATABASE"] == dev.cfg.redshift.database
    assert "REDSHIFT_WORKGROUP" in variables and "REDSHIFT_HOST" in variables


def test_alarm_topic_is_encrypted_tls_only_and_mails_on_call(each_env: Synth) -> None:
    ((topic_id, topic),) = each_env.resources("Monitoring", "AWS::SNS::Topic").items()
    assert "Fn::ImportValue" in topic["Properties"]["KmsMasterKeyId"]
    (subscription,) = each_env.resources("Monitoring", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == each_env.cfg.alarms.email
    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id}
    (policy,) = each_env.resources("Monitoring", "AWS::SNS::TopicPolicy").values()
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
