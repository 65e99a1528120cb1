"""The isolated VPC, its endpoints, Redshift Serverless and who may reach it."""

from __future__ import annotations

import json
from typing import Any

from stacks.warehouse import INTERFACE_ENDPOINTS
from tests.infra.conftest import Synth

PREFIX_LIST_ID = "PrefixLists.0.PrefixListId"


def _prefix_list_lookup(synth: Synth) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the custom resource that looks the S3 prefix list up."""
    (found,) = [
        (logical_id, r["Properties"])
        for logical_id, r in synth.resources("Warehouse", "Custom::AWS").items()
        if "DescribeManagedPrefixLists" in json.dumps(r)
    ]
    return found


def _one(synth: Synth, type_: str) -> dict[str, Any]:
    (resource,) = synth.resources("Warehouse", type_).values()
    return resource["Properties"]


def test_vpc_is_isolated_in_the_configured_zones(each_env: Synth) -> None:
    assert _one(each_env, "AWS::EC2::VPC")["CidrBlock"] == each_env.cfg.vpc_cidr
    subnets = each_env.resources("Warehouse", "AWS::EC2::Subnet").values()
    assert sorted(s["Properties"]["AvailabilityZone"] for s in subnets) == sorted(each_env.cfg.availability_zones)
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    for type_ in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        assert not each_env.resources("Warehouse", type_), type_
    routes = each_env.resources("Warehouse", "AWS::EC2::Route").values()
    assert not [r for r in routes if r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"]


def test_flow_logs_capture_all_traffic(each_env: Synth) -> None:
    flow_log = _one(each_env, "AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "ALL" and flow_log["ResourceType"] == "VPC"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"


def test_endpoints_for_everything_the_in_vpc_functions_call(each_env: Synth) -> None:
    endpoints = each_env.resources("Warehouse", "AWS::EC2::VPCEndpoint").values()
    services = {}
    for endpoint in endpoints:
        name = endpoint["Properties"]["ServiceName"]
        text = name if isinstance(name, str) else str(name)
        services[text.rsplit(".", 1)[-1].rstrip("']}\"")] = endpoint["Properties"]
    assert {"s3", "sts", "redshift-serverless", "sqs", "kms", "secretsmanager", "logs"} <= set(services)
    assert services["s3"]["VpcEndpointType"] == "Gateway"
    for name, props in services.items():
        if name != "s3":
            assert props["VpcEndpointType"] == "Interface" and props["PrivateDnsEnabled"] is True, name


def test_workgroup_is_private_tls_only_with_configured_rpu(each_env: Synth) -> None:
    props = _one(each_env, "AWS::RedshiftServerless::Workgroup")
    assert props["PubliclyAccessible"] is False
    assert props["EnhancedVpcRouting"] is True
    assert {"ParameterKey": "require_ssl", "ParameterValue": "true"} in props["ConfigParameters"]
    assert props["BaseCapacity"] == each_env.cfg.redshift.base_rpu
    assert props["MaxCapacity"] == each_env.cfg.redshift.max_rpu
    assert props["Port"] == 5439
    assert len(props["SubnetIds"]) == len(each_env.cfg.availability_zones)


def test_rpu_differs_between_dev_and_prod(dev: Synth, prod: Synth) -> None:
    dev_wg, prod_wg = (_one(s, "AWS::RedshiftServerless::Workgroup") for s in (dev, prod))
    assert (dev_wg["BaseCapacity"], dev_wg["MaxCapacity"]) == (8, 32)
    assert (prod_wg["BaseCapacity"], prod_wg["MaxCapacity"]) == (32, 256)


def test_namespace_lets_redshift_manage_its_password_and_exports_audit_logs(each_env: Synth) -> None:
    props = _one(each_env, "AWS::RedshiftServerless::Namespace")
    assert props["ManageAdminPassword"] is True and "AdminUserPassword" not in props
    assert props["DbName"] == each_env.cfg.redshift.database
    assert set(props["LogExports"]) == {"connectionlog", "useractivitylog", "userlog"}
    copy_role = each_env.logical_id(each_env.risk_app.stacks["Warehouse"].copy_role)
    spectrum_role = each_env.logical_id(each_env.risk_app.stacks["Warehouse"].spectrum_role)
    assert props["IamRoles"] == [{"Fn::GetAtt": [copy_role, "Arn"]}, {"Fn::GetAtt": [spectrum_role, "Arn"]}]


def test_workgroup_admits_5439_only_from_loader_migrator_and_retention_job(each_env: Synth) -> None:
    warehouse = each_env.risk_app.stacks["Warehouse"]
    workgroup_sg = each_env.logical_id(warehouse.workgroup_sg)
    clients = {
        each_env.logical_id(warehouse.loader_sg),
        each_env.logical_id(warehouse.migrator_sg),
        each_env.logical_id(warehouse.retention_sg),
    }
    sg = each_env.resources("Warehouse", "AWS::EC2::SecurityGroup")[workgroup_sg]["Properties"]
    assert "SecurityGroupIngress" not in sg  # nothing inline, in particular no CIDR
    ingress = [
        i["Properties"]
        for i in each_env.resources("Warehouse", "AWS::EC2::SecurityGroupIngress").values()
        if i["Properties"]["GroupId"] == {"Fn::GetAtt": [workgroup_sg, "GroupId"]}
    ]
    assert {i["SourceSecurityGroupId"]["Fn::GetAtt"][0] for i in ingress} == clients
    assert all((i["IpProtocol"], i["FromPort"], i["ToPort"]) == ("tcp", 5439, 5439) for i in ingress)
    props = _one(each_env, "AWS::RedshiftServerless::Workgroup")
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [workgroup_sg, "GroupId"]}]


def test_no_security_group_admits_the_internet(each_env: Synth) -> None:
    for part, logical_id, sg in each_env.all_resources("AWS::EC2::SecurityGroup"):
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") not in ("0.0.0.0/0",) and rule.get("CidrIpv6") != "::/0", (part, logical_id)
    for part, logical_id, rule in each_env.all_resources("AWS::EC2::SecurityGroupIngress"):
        assert rule["Properties"].get("CidrIp") != "0.0.0.0/0", (part, logical_id)


def test_copy_role_reads_only_the_enriched_objects(dev: Synth) -> None:
    """The loader's COPY needs enriched/ only; raw/ (clear-text PII) must not be loadable from the warehouse."""
    role_id = dev.logical_id(dev.risk_app.stacks["Warehouse"].copy_role)
    role = dev.resources("Warehouse", "AWS::IAM::Role")[role_id]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert set(trust["Principal"]["Service"]) == {"redshift.amazonaws.com", "redshift-serverless.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert set(statements) == {"ReadEnrichedObjects", "ListEnriched", "DecryptThroughS3"}
    assert statements["ReadEnrichedObjects"]["Action"] == "s3:GetObject"
    resources = str(statements["ReadEnrichedObjects"]["Resource"])
    assert "/enriched/*" in resources and "/raw/" not in resources and "/quarantine/" not in resources
    assert statements["ListEnriched"]["Condition"] == {"StringLike": {"s3:prefix": ["enriched/*"]}}
    assert statements["DecryptThroughS3"]["Action"] == "kms:Decrypt"
    assert "kms:ViaService" in statements["DecryptThroughS3"]["Condition"]["StringEquals"]


def test_the_spectrum_role_reads_only_the_catalogs_enriched_table_and_its_objects(each_env: Synth) -> None:
    """docs/warehouse.md's archive join: read-only Glue on the database and its enriched table, enriched/
    objects and their key through S3; never raw/ or quarantine/ (clear-text PII), never a catalog write."""
    warehouse = each_env.risk_app.stacks["Warehouse"]
    role_id = each_env.logical_id(warehouse.spectrum_role)
    role = each_env.resources("Warehouse", "AWS::IAM::Role")[role_id]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert set(trust["Principal"]["Service"]) == {"redshift.amazonaws.com", "redshift-serverless.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "ReadTheCatalogsEnrichedTable",
        "ReadEnrichedObjects",
        "ListEnriched",
        "LocateTheArchive",
        "DecryptThroughS3",
    }
    glue = statements["ReadTheCatalogsEnrichedTable"]
    assert all(a.startswith("glue:Get") or a == "glue:BatchGetPartition" for a in glue["Action"])
    database = each_env.cfg.prefix.replace("-", "_")
    resources = [json.dumps(r) for r in glue["Resource"]]
    assert [r.rsplit(":", 1)[-1].rstrip('"]}') for r in resources] == [
        "catalog",
        f"database/{database}",
        f"table/{database}/enriched",
    ]
    (catalog_db,) = each_env.resources("Catalog", "AWS::Glue::Database").values()
    assert catalog_db["Properties"]["DatabaseInput"]["Name"] == database
    objects = str(statements["ReadEnrichedObjects"]["Resource"])
    assert "/enriched/*" in objects and "/raw/" not in objects and "/quarantine/" not in objects
    assert statements["ListEnriched"]["Condition"] == {"StringLike": {"s3:prefix": ["enriched/*"]}}
    decrypt = statements["DecryptThroughS3"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert set(decrypt["Condition"]["StringEquals"]) == {"kms:ViaService", "kms:EncryptionContext:aws:s3:arn"}
    # associated with the namespace (not its default: COPY keeps the COPY role), and its ARN is an output
    (namespace,) = each_env.resources("Warehouse", "AWS::RedshiftServerless::Namespace").values()
    arn = {"Fn::GetAtt": [role_id, "Arn"]}
    assert arn in namespace["Properties"]["IamRoles"]
    assert namespace["Properties"]["DefaultIamRoleArn"] != arn
    outputs = each_env.raw["Warehouse"]["Outputs"]
    assert any(k.startswith("SpectrumRoleArn") and o["Value"] == arn for k, o in outputs.items())


def test_warehouse_is_retained_in_prod(prod: Synth, dev: Synth) -> None:
    for type_ in ("AWS::RedshiftServerless::Namespace", "AWS::RedshiftServerless::Workgroup"):
        (resource,) = prod.resources("Warehouse", type_).values()
        assert resource["DeletionPolicy"] == "Retain"
        (resource,) = dev.resources("Warehouse", type_).values()
        assert resource["DeletionPolicy"] == "Delete"


def test_workgroup_spans_the_three_zones_redshift_serverless_requires(each_env: Synth) -> None:
    """Redshift Serverless rejects a workgroup with fewer than three subnets in three AZs (config enforces it)."""
    props = _one(each_env, "AWS::RedshiftServerless::Workgroup")
    subnets = each_env.resources("Warehouse", "AWS::EC2::Subnet").values()
    assert len({s["Properties"]["AvailabilityZone"] for s in subnets}) >= 3
    assert len(props["SubnetIds"]) >= 3


def test_workgroup_has_the_configured_daily_usage_limit(each_env: Synth) -> None:
    """CloudFormation has no Redshift Serverless usage limit: an AwsCustomResource calls the API."""
    (resource,) = [
        r for r in each_env.resources("Warehouse", "Custom::AWS").values() if "CreateUsageLimit" in json.dumps(r)
    ]
    create = json.loads(_joined(resource["Properties"]["Create"]))
    assert create["service"] == "RedshiftServerless" and create["action"] == "CreateUsageLimit"
    params = create["parameters"]
    redshift = each_env.cfg.redshift
    assert (params["usageType"], params["period"]) == ("serverless-compute", "daily")
    assert params["amount"] == redshift.rpu_hours_per_day
    assert params["breachAction"] == redshift.usage_limit_breach_action
    assert "WorkgroupArn" in json.dumps(params["resourceArn"])
    update = json.loads(_joined(resource["Properties"]["Update"]))
    assert update["parameters"]["amount"] == redshift.rpu_hours_per_day


def _joined(value: Any) -> str:
    """An Fn::Join of strings and tokens as one string, tokens as JSON strings naming them."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return str(separator).join(p if isinstance(p, str) else json.dumps(json.dumps(p))[1:-1] for p in parts)


def test_the_only_output_outside_the_schema_validators_know_is_the_managed_admin_secret(each_env: Synth) -> None:
    """F6101 (CDK) and E6101 (cfn-lint) are silenced for the Warehouse stack because their resource schema
    lacks Namespace.AdminPasswordSecretArn: no other output of the stack may need that."""
    namespace = each_env.logical_id(each_env.risk_app.stacks["Warehouse"].namespace)
    template = each_env.raw["Warehouse"]
    unknown = [
        output["Value"]
        for output in template["Outputs"].values()
        if "Fn::GetAtt" in output["Value"] and "Secret" in output["Value"]["Fn::GetAtt"][1]
    ]
    assert unknown == [{"Fn::GetAtt": [namespace, "Namespace.AdminPasswordSecretArn"]}]
    assert template["Metadata"]["cfn-lint"]["config"]["ignore_checks"] == ["E6101", "W3005"]


def test_every_vpc_endpoint_has_a_policy_naming_actions_and_resources_for_this_account(each_env: Synth) -> None:
    endpoints = each_env.resources("Warehouse", "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == 1 + len(INTERFACE_ENDPOINTS)  # the S3 gateway and the interface endpoints
    for logical_id, endpoint in endpoints.items():
        statements = endpoint["Properties"]["PolicyDocument"]["Statement"]
        assert statements, logical_id
        for statement in statements:
            assert statement["Effect"] == "Allow"
            assert list(statement["Condition"]["StringEquals"]) == ["aws:PrincipalAccount"], logical_id
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all(":" in a and "*" not in a for a in actions), (logical_id, actions)
            if actions != ["sts:GetCallerIdentity"]:  # no resource-level permissions
                assert statement["Resource"] != "*", logical_id


def test_the_s3_gateway_admits_only_the_archive_bucket_enriched_prefix(each_env: Synth) -> None:
    (s3,) = [
        e
        for e in each_env.resources("Warehouse", "AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Gateway"
    ]
    statements = {s["Sid"]: s for s in s3["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"LoaderWritesEnriched", "CopyReadsEnriched", "CopyListsArchive"}
    assert statements["LoaderWritesEnriched"]["Action"] == "s3:PutObject"
    assert statements["CopyReadsEnriched"]["Action"] == "s3:GetObject"
    for sid in ("LoaderWritesEnriched", "CopyReadsEnriched"):
        assert str(statements[sid]["Resource"]).endswith("/enriched/*']]}"), statements[sid]["Resource"]
    assert "raw/" not in str(s3) and "quarantine/" not in str(s3)


def _egress(each_env: Synth, group: str) -> set[tuple[str, int]]:
    """The Warehouse stack's egress rules of one security group, as (destination group or prefix list, port)."""
    return {
        (
            r["Properties"].get("DestinationSecurityGroupId", {}).get("Fn::GetAtt", [None])[0]
            or json.dumps(r["Properties"].get("DestinationPrefixListId")),
            r["Properties"]["FromPort"],
        )
        for r in each_env.resources("Warehouse", "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    }


def test_client_security_groups_reach_only_the_endpoints_the_s3_prefix_list_and_the_workgroup(each_env: Synth) -> None:
    warehouse = each_env.risk_app.stacks["Warehouse"]
    endpoint_sg = each_env.logical_id(warehouse.endpoint_sg)
    workgroup_sg = each_env.logical_id(warehouse.workgroup_sg)
    for client in (warehouse.loader_sg, warehouse.migrator_sg, warehouse.retention_sg):
        client_id = each_env.logical_id(client)
        sg = each_env.resources("Warehouse", "AWS::EC2::SecurityGroup")[client_id]["Properties"]
        inline = sg.get("SecurityGroupEgress", [])
        assert all(rule.get("CidrIp") == "255.255.255.255/32" for rule in inline)  # CDK's "no egress" marker
        egress = _egress(each_env, client_id)
        prefix_list = {"Fn::GetAtt": [_prefix_list_lookup(each_env)[0], PREFIX_LIST_ID]}
        assert egress == {(endpoint_sg, 443), (workgroup_sg, 5439), (json.dumps(prefix_list), 443)}
    for _, logical_id, sg in each_env.all_resources("AWS::EC2::SecurityGroupEgress"):
        assert "CidrIp" not in sg["Properties"], logical_id


def test_the_workgroup_reaches_only_s3_and_the_interface_endpoints_for_copy_and_spectrum(each_env: Synth) -> None:
    """Enhanced VPC routing: COPY and Spectrum's S3 reads leave through the gateway endpoint, Spectrum's catalog
    calls through the Glue interface endpoint; the workgroup reaches nothing else."""
    warehouse = each_env.risk_app.stacks["Warehouse"]
    workgroup_sg = each_env.logical_id(warehouse.workgroup_sg)
    egress = _egress(each_env, workgroup_sg)
    prefix_list = {"Fn::GetAtt": [_prefix_list_lookup(each_env)[0], PREFIX_LIST_ID]}
    assert egress == {(each_env.logical_id(warehouse.endpoint_sg), 443), (json.dumps(prefix_list), 443)}
    glue = [
        e
        for e in each_env.resources("Warehouse", "AWS::EC2::VPCEndpoint").values()
        if "glue" in json.dumps(e["Properties"]["ServiceName"])
    ]
    assert len(glue) == 1 and glue[0]["Properties"]["VpcEndpointType"] == "Interface"


def test_every_role_a_service_other_than_lambda_assumes_is_pinned_to_this_account(each_env: Synth) -> None:
    """Confused-deputy guard: Redshift (COPY), Firehose and VPC Flow Logs assume our roles for this account
    only. Lambda's trust needs none: a function's role is passed to it (iam:PassRole) in this account."""
    checked = 0
    for part, logical_id, role in each_env.all_resources("AWS::IAM::Role"):
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            services = statement["Principal"].get("Service", [])
            services = services if isinstance(services, list) else [services]
            if services == ["lambda.amazonaws.com"]:
                continue
            conditions = statement.get("Condition", {}).get("StringEquals", {})
            assert conditions.get("aws:SourceAccount") == {"Ref": "AWS::AccountId"} or conditions.get(
                "sts:ExternalId"
            ) == {"Ref": "AWS::AccountId"}, (part, logical_id, services)
            checked += 1
    # COPY, Spectrum, Firehose delivery, flow logs, the event bus rule (Entry); SageMaker's model where configured
    assert checked == 5 + ("SageMaker" in each_env.raw)


def test_the_s3_prefix_list_is_looked_up_by_the_regions_name_at_deploy_time(each_env: Synth) -> None:
    """Its id differs per region: DescribeManagedPrefixLists by name, with that one action allowed."""
    _, lookup = _prefix_list_lookup(each_env)
    for event in ("Create", "Update"):
        call = json.loads(lookup[event])
        assert (call["service"], call["action"]) == ("EC2", "DescribeManagedPrefixLists")
        name = f"com.amazonaws.{each_env.cfg.region}.s3"
        assert call["parameters"] == {"Filters": [{"Name": "prefix-list-name", "Values": [name]}]}
        assert call["outputPaths"] == [PREFIX_LIST_ID]
    assert "Delete" not in lookup  # a lookup: nothing to undo
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in each_env.resources("Warehouse", "AWS::IAM::Policy").values()
        if "DescribeManagedPrefixLists" in json.dumps(p)
    ]
    assert policies == [[{"Action": "ec2:DescribeManagedPrefixLists", "Effect": "Allow", "Resource": "*"}]]
    assert "pl-" not in json.dumps(each_env.raw["Warehouse"])


def test_the_migration_function_reads_the_redshift_managed_secret_through_the_namespace_attribute(
    each_env: Synth,
) -> None:
    """One deploy: the Warehouse stack exports Fn::GetAtt Namespace.AdminPasswordSecretArn and the Schema
    stack's function, its secret read and its decrypt use that export (no secret of ours, no second step)."""
    namespace = each_env.logical_id(each_env.risk_app.stacks["Warehouse"].namespace)
    exports = {output["Export"]["Name"]: output["Value"] for output in each_env.raw["Warehouse"]["Outputs"].values()}
    managed_secret = {"Fn::GetAtt": [namespace, "Namespace.AdminPasswordSecretArn"]}
    (secret_export,) = [name for name, value in exports.items() if value == managed_secret]
    imported = {"Fn::ImportValue": secret_export}
    schema = each_env.risk_app.stacks["Schema"]
    fn = each_env.resources("Schema", "AWS::Lambda::Function")[each_env.logical_id(schema.migrator.function)]
    assert fn["Properties"]["Environment"]["Variables"]["REDSHIFT_ADMIN_SECRET_ARN"] == imported
    statements = {
        s.get("Sid"): s
        for p in each_env.resources("Schema", "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    }
    assert statements["ReadSchemaOwnerSecret"]["Resource"] == imported
    decrypt = statements["DecryptSchemaOwnerSecret"]["Condition"]["StringEquals"]
    assert decrypt["kms:EncryptionContext:SecretARN"] == imported
    assert not each_env.resources("Warehouse", "AWS::SecretsManager::Secret")


def test_every_function_sends_a_failed_asynchronous_event_to_the_async_failures_queue(each_env: Synth) -> None:
    """Every Lambda function of every stack (ours and CDK's custom-resource handlers): DeadLetterConfig is the
    async-failures queue, which is encrypted with the pipeline key and, like every queue, TLS-only."""
    warehouse = each_env.risk_app.stacks["Warehouse"]
    queue_id = each_env.logical_id(warehouse.async_failures)
    queue = each_env.resources("Warehouse", "AWS::SQS::Queue")[queue_id]["Properties"]
    assert queue["QueueName"] == each_env.cfg.queue_name("async-failures")
    key = json.dumps(queue["KmsMasterKeyId"])
    assert "Fn::ImportValue" in key and "Pipeline" in key
    functions = each_env.all_resources("AWS::Lambda::Function")
    assert len(functions) >= 8
    for part, logical_id, fn in functions:
        target = fn["Properties"]["DeadLetterConfig"]["TargetArn"]
        if part == "Warehouse":
            assert target == {"Fn::GetAtt": [queue_id, "Arn"]}, logical_id
        else:
            assert "Fn::ImportValue" in target and "AsyncFailures" in target["Fn::ImportValue"], (part, logical_id)


def test_reserved_concurrency_is_the_mappings_maximum_or_one_for_the_jobs(each_env: Synth) -> None:
    """score and load reserve their SQS mappings' maximum concurrency; migrations, the retention purge and
    the provider framework run one at a time; parse (Kinesis: shards x factor) reserves none."""
    reserved = {
        logical_id: fn["Properties"].get("ReservedConcurrentExecutions")
        for _, logical_id, fn in each_env.all_resources("AWS::Lambda::Function")
    }
    processing = each_env.risk_app.stacks["Processing"]
    for stage in ("score", "load"):
        fn_id = each_env.logical_id(processing.functions[stage])
        assert reserved[fn_id] == each_env.cfg.function(stage).max_concurrency
    assert reserved[each_env.logical_id(processing.functions["parse"])] is None
    schema = each_env.risk_app.stacks["Schema"]
    for fn in (schema.migrator.function, schema.retention.function):
        assert reserved[each_env.logical_id(fn)] == 1
    assert sorted(v for k, v in reserved.items() if k.startswith("ProviderframeworkonEvent")) == [1]
