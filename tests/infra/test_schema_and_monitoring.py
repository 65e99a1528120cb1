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


def test_alarm_topics_are_encrypted_tls_only_and_mail_the_configured_addresses(each_env: Synth) -> None:
    monitoring = each_env.risk_app.stacks["Monitoring"]
    topic_ids = {
        "critical": each_env.logical_id(monitoring.alarm_topic),
        "warning": each_env.logical_id(monitoring.warning_topic),
    }
    topics = each_env.resources("Monitoring", "AWS::SNS::Topic")
    assert set(topics) == set(topic_ids.values())
    for topic in topics.values():
        assert "Fn::ImportValue" in topic["Properties"]["KmsMasterKeyId"]
    subscriptions = each_env.resources("Monitoring", "AWS::SNS::Subscription").values()
    for severity, topic_id in topic_ids.items():
        mailed = {
            s["Properties"]["Endpoint"]
            for s in subscriptions
            if s["Properties"]["TopicArn"] == {"Ref": topic_id} and s["Properties"]["Protocol"] == "email"
        }
        assert mailed == set(each_env.cfg.alarms.subscriptions[severity]), severity
    policies = each_env.resources("Monitoring", "AWS::SNS::TopicPolicy").values()
    assert len(policies) == 2
    for policy in policies:
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


CRITICAL_ALARMS = {
    *(f"{q}-{kind}" for q in ("parsed-dlq", "scored-dlq", "parse-failures-dlq") for kind in ("not-empty", "age")),
    "parse-iterator-near-expiry",
    "firehose-behind",
    "firehose-undelivered-near-expiry",
    "parsed-near-expiry",
    "scored-near-expiry",
    "parse-failing",
    "score-failing",
    "load-failing",
    "scored-waiting-nothing-loaded",
}


def test_alarms_go_to_the_topic_of_their_severity(each_env: Synth) -> None:
    """Data at risk (DLQ, a consumer near its horizon, a stage failing, a stalled load) pages once, through the
    critical composite; everything else is a warning, silenced while the critical composite is on."""
    monitoring = each_env.risk_app.stacks["Monitoring"]
    critical = {"Ref": each_env.logical_id(monitoring.alarm_topic)}
    warning = {"Ref": each_env.logical_id(monitoring.warning_topic)}
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in each_env.resources("Monitoring", "AWS::CloudWatch::Alarm").values()
    }
    prefix = f"{each_env.cfg.prefix}-"
    assert {name.removeprefix(prefix) for name in alarms} >= CRITICAL_ALARMS
    for name, props in alarms.items():
        if name.endswith(("-dlq-age", "-parsed-near-expiry", "-scored-near-expiry")):  # escalations page by themselves
            assert props["AlarmActions"] == [critical] and "OKActions" not in props, name
        elif name.endswith(("-retention-failed", "-retention-not-run")):
            # A daily job, outside the pipeline composites: it mails the warning topic by itself, once.
            assert props["AlarmActions"] == [warning] and "OKActions" not in props, name
        else:
            assert "AlarmActions" not in props and "OKActions" not in props, name
    severities = {key: info.severity for key, info in monitoring.monitoring.alarms.items()}
    assert {k for k, s in severities.items() if s == "critical"} == CRITICAL_ALARMS
    composites = {
        r["Properties"]["AlarmName"].removeprefix(prefix): r["Properties"]
        for r in each_env.resources("Monitoring", "AWS::CloudWatch::CompositeAlarm").values()
    }
    assert composites["pipeline-critical"]["AlarmActions"] == [critical]
    assert composites["pipeline-unhealthy"]["AlarmActions"] == [warning]


def test_migration_function_signs_in_as_schema_owner_and_only_it_reads_the_admin_secret(each_env: Synth) -> None:
    schema = each_env.risk_app.stacks["Schema"]
    namespace = each_env.logical_id(each_env.risk_app.stacks["Warehouse"].namespace)
    functions = each_env.resources("Schema", "AWS::Lambda::Function")
    variables = functions[each_env.logical_id(schema.migrator.function)]["Properties"]["Environment"]["Variables"]
    # The Redshift-managed secret: the Warehouse stack exports Fn::GetAtt Namespace.AdminPasswordSecretArn.
    secret_ref = variables["REDSHIFT_ADMIN_SECRET_ARN"]
    assert "Fn::ImportValue" in secret_ref and "AdminPasswordSecretArn" in str(secret_ref)
    outputs = [o["Value"] for o in each_env.raw["Warehouse"]["Outputs"].values()]
    assert {"Fn::GetAtt": [namespace, "Namespace.AdminPasswordSecretArn"]} in outputs
    readers = []
    for part in ("Processing", "Schema", "Ingest", "Warehouse"):
        for policy in each_env.resources(part, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "AdminPasswordSecretArn" in str(statement.get("Resource")):
                    readers.append((part, statement["Action"]))
    assert readers == [("Schema", "secretsmanager:GetSecretValue")]


def test_admin_password_is_managed_by_redshift_under_the_warehouse_key_with_no_rotation_function(
    each_env: Synth,
) -> None:
    (namespace,) = each_env.resources("Warehouse", "AWS::RedshiftServerless::Namespace").values()
    props = namespace["Properties"]
    assert props["ManageAdminPassword"] is True
    assert "AdminUserPassword" not in props  # no password, not even a dynamic reference, in the template
    assert "Warehouse" in str(props["AdminPasswordSecretKmsKeyId"])  # the warehouse CMK
    for part in each_env.raw:
        assert each_env.resources(part, "AWS::SecretsManager::RotationSchedule") == {}
        assert not [k for k in each_env.raw[part]["Resources"] if "Rotation" in k], part
    assert each_env.resources("Warehouse", "AWS::SecretsManager::Secret") == {}


def test_retention_job_runs_daily_in_the_vpc_as_risk_retention_and_is_alarmed(each_env: Synth) -> None:
    schema = each_env.risk_app.stacks["Schema"]
    warehouse = each_env.risk_app.stacks["Warehouse"]
    fn = each_env.resources("Schema", "AWS::Lambda::Function")[each_env.logical_id(schema.retention.function)]
    props = fn["Properties"]
    assert props["Handler"] == "risk.retention.handler.on_schedule"
    variables = props["Environment"]["Variables"]
    assert variables["RISK_EVENTS_RETENTION_DAYS"] == str(each_env.cfg.archive.warehouse_retention_days)
    assert "RetentionSecurityGroup" in str(props["VpcConfig"]["SecurityGroupIds"])
    role = each_env.resources("Schema", "AWS::IAM::Role")[each_env.logical_id(schema.retention.role)]
    assert {"Key": "RedshiftDbRoles", "Value": "risk_retention"} in role["Properties"]["Tags"]
    (rule,) = each_env.resources("Schema", "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "cron(17 3 * * ? *)"
    assert rule["Properties"]["Targets"][0]["Arn"] == {
        "Fn::GetAtt": [each_env.logical_id(schema.retention.function), "Arn"]
    }
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in each_env.resources("Monitoring", "AWS::CloudWatch::Alarm").values()
        if "retention" in str(a["Properties"].get("AlarmName"))
    }
    prefix = each_env.cfg.prefix
    assert set(alarms) == {f"{prefix}-retention-failed", f"{prefix}-retention-not-run"}
    assert alarms[f"{prefix}-retention-not-run"]["TreatMissingData"] == "breaching"
    warning = each_env.logical_id(each_env.risk_app.stacks["Monitoring"].warning_topic)
    assert all(a["AlarmActions"] == [{"Ref": warning}] for a in alarms.values())
    assert warehouse.retention_sg is not None
