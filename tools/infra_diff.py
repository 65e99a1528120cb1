"""``make diff BASE=<git ref>``: what a change does to the infrastructure, per environment and stack.

    python -m tools.infra_diff --base origin/main [--envs dev prod]

A template directory is not a review. This synthesizes the base ref (``git archive`` into a temporary
directory) and the working tree for each environment, with no AWS credentials and without bundling
(asset hashes still change with the code), and prints per stack the resources added, removed and
changed. Security-relevant changes (IAM, KMS, security groups, bucket/queue/topic policies, Lambda
permissions, and policy/key properties of any resource) and replacement-causing changes come first.

No AWS, no CDK CLI: the two templates are compared here. ``REPLACED_BY`` lists the properties that
make CloudFormation replace a resource, for the resource types this app uses (from the
CloudFormation resource reference); a changed logical id is a removal and an addition.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from stacks.config import ENVIRONMENT_NAMES, REPO_ROOT
from tools.cli.errors import OperatorError, OperatorParser, guarded

SECURITY_TYPES = (
    "AWS::IAM::",
    "AWS::KMS::",
    "AWS::EC2::SecurityGroup",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::Lambda::Permission",
    "AWS::SecretsManager::ResourcePolicy",
)
SECURITY_PROPERTIES = frozenset(
    {
        "AssumeRolePolicyDocument",
        "BucketEncryption",
        "KeyPolicy",
        "KmsKeyId",
        "KMSMasterKeyId",
        "ManagedPolicyArns",
        "Policies",
        "PolicyDocument",
        "PublicAccessBlockConfiguration",
        "SecurityGroupEgress",
        "SecurityGroupIds",
        "SecurityGroupIngress",
        "VpcConfig",
    }
)
REPLACED_BY: Mapping[str, frozenset[str]] = {
    "AWS::CloudWatch::Alarm": frozenset({"AlarmName"}),
    "AWS::CloudWatch::Dashboard": frozenset({"DashboardName"}),
    "AWS::DynamoDB::Table": frozenset({"TableName", "KeySchema"}),
    "AWS::EC2::SecurityGroup": frozenset({"GroupDescription", "GroupName", "VpcId"}),
    "AWS::EC2::Subnet": frozenset({"AvailabilityZone", "CidrBlock", "VpcId"}),
    "AWS::EC2::VPC": frozenset({"CidrBlock", "InstanceTenancy"}),
    "AWS::IAM::Role": frozenset({"Path", "RoleName"}),
    "AWS::Kinesis::Stream": frozenset({"Name"}),
    "AWS::KinesisFirehose::DeliveryStream": frozenset({"DeliveryStreamName", "DeliveryStreamType"}),
    "AWS::KMS::Alias": frozenset({"AliasName"}),
    "AWS::Lambda::EventSourceMapping": frozenset({"EventSourceArn", "StartingPosition"}),
    "AWS::Lambda::Function": frozenset({"FunctionName", "PackageType"}),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName"}),
    "AWS::RedshiftServerless::Namespace": frozenset({"NamespaceName"}),
    "AWS::RedshiftServerless::Workgroup": frozenset({"NamespaceName", "WorkgroupName"}),
    "AWS::S3::Bucket": frozenset({"BucketName", "ObjectLockEnabled"}),
    "AWS::SecretsManager::Secret": frozenset({"Name"}),
    "AWS::SNS::Topic": frozenset({"FifoTopic", "TopicName"}),
    "AWS::SQS::Queue": frozenset({"FifoQueue", "QueueName"}),
}
# Resource attributes compared besides Properties (Metadata is construct paths and asset notes: noise).
ATTRIBUTES = ("Type", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Condition")
IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})

# Run inside the tree to synthesize (its own stacks package), so the base uses the base's code. One
# process synthesizes every environment (into <outdir>/<env>): starting jsii is most of a synth's time.
_SYNTH = """
import sys
from aws_cdk import App
from stacks.app_factory import build_app, committed_context
for env in sys.argv[2:]:
    app = App(context=committed_context(), outdir=f"{sys.argv[1]}/{env}")
    build_app(env, bundle=False, app=app)
    app.synth()
"""


@dataclass(frozen=True)
class Change:
    kind: str  # "added", "removed" or "changed"
    logical_id: str
    type: str
    properties: tuple[str, ...] = ()  # what changed (properties and attributes)
    security: bool = False
    replacement: bool = False

    def line(self) -> str:
        sign = {"added": "+", "removed": "-", "changed": "~"}[self.kind]
        flags = [f for f, on in (("SECURITY", self.security), ("REPLACEMENT", self.replacement)) if on]
        what = f": {', '.join(self.properties)}" if self.properties else ""
        return f"{sign} {'[' + ' '.join(flags) + '] ' if flags else ''}{self.type} {self.logical_id}{what}"


@dataclass
class StackDiff:
    stack: str
    status: str = "changed"  # or "added", "removed"
    changes: list[Change] = field(default_factory=list)

    def ordered(self) -> list[Change]:
        """Security and replacement first, then additions, removals and changes, each by logical id."""
        rank = {"added": 1, "removed": 2, "changed": 3}
        return sorted(self.changes, key=lambda c: (not (c.security or c.replacement), rank[c.kind], c.logical_id))


def _is_security_type(type_: str) -> bool:
    return type_.startswith(SECURITY_TYPES)


def diff_resources(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """The changes between two templates' ``Resources``."""
    old = {k: v for k, v in base.get("Resources", {}).items() if v.get("Type") not in IGNORED_TYPES}
    new = {k: v for k, v in head.get("Resources", {}).items() if v.get("Type") not in IGNORED_TYPES}
    changes = []
    for logical_id in sorted(new.keys() - old.keys()):
        type_ = new[logical_id]["Type"]
        changes.append(Change("added", logical_id, type_, security=_is_security_type(type_)))
    for logical_id in sorted(old.keys() - new.keys()):
        type_ = old[logical_id]["Type"]
        changes.append(Change("removed", logical_id, type_, security=_is_security_type(type_)))
    for logical_id in sorted(old.keys() & new.keys()):
        before, after = old[logical_id], new[logical_id]
        props_before, props_after = before.get("Properties", {}), after.get("Properties", {})
        changed = [
            key
            for key in sorted(props_before.keys() | props_after.keys())
            if props_before.get(key) != props_after.get(key)
        ]
        changed += [attr for attr in ATTRIBUTES if before.get(attr) != after.get(attr)]
        if not changed:
            continue
        type_ = after["Type"]
        replaced = "Type" in changed or bool(REPLACED_BY.get(type_, frozenset()) & set(changed))
        security = _is_security_type(type_) or bool(SECURITY_PROPERTIES & set(changed))
        changes.append(Change("changed", logical_id, type_, tuple(changed), security, replaced))
    return changes


def diff_assemblies(base: Mapping[str, Mapping[str, Any]], head: Mapping[str, Mapping[str, Any]]) -> list[StackDiff]:
    """Stack name -> template on each side; only stacks with a difference are returned."""
    out = []
    for stack in sorted(base.keys() | head.keys()):
        if stack not in base:
            out.append(StackDiff(stack, "added", diff_resources({}, head[stack])))
        elif stack not in head:
            out.append(StackDiff(stack, "removed", diff_resources(base[stack], {})))
        elif changes := diff_resources(base[stack], head[stack]):
            out.append(StackDiff(stack, "changed", changes))
    return out


def read_assembly(outdir: Path) -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in outdir.glob("*.template.json")}


def report(env: str, diffs: Sequence[StackDiff], out: TextIO) -> None:
    if not diffs:
        out.write(f"== {env}: no infrastructure change\n")
        return
    security = sum(c.security for d in diffs for c in d.changes)
    replacements = sum(c.replacement for d in diffs for c in d.changes)
    out.write(f"== {env}: {security} security-relevant change(s), {replacements} replacement(s)\n")
    for d in diffs:
        counts = {k: sum(c.kind == k for c in d.changes) for k in ("added", "removed", "changed")}
        out.write(f"{d.stack} ({d.status}): {counts['added']} added, {counts['removed']} removed, ")
        out.write(f"{counts['changed']} changed\n")
        out.writelines(f"  {c.line()}\n" for c in d.ordered())


def export_tree(ref: str, target: Path) -> None:
    """The files of ``ref`` (committed content only) into ``target``; no worktree is registered."""
    done = subprocess.run(["git", "archive", "--format=tar", ref], cwd=REPO_ROOT, capture_output=True, check=False)
    if done.returncode != 0:
        raise OperatorError(f"--base {ref}: {done.stderr.decode().strip()}; give a branch, tag or commit", 2)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(target, filter="data")


def synthesize(tree: Path, envs: Sequence[str], outdir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Environment -> stack -> template of the app in ``tree``, unbundled, with no AWS credentials."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_EC2_METADATA_DISABLED"}
    environ["PYTHONPATH"] = os.pathsep.join([str(tree / "lambdas"), str(tree)])
    environ["PATH"] = os.pathsep.join([str(REPO_ROOT / "node_modules" / ".bin"), environ.get("PATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _SYNTH, str(outdir), *envs],
        cwd=tree,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise OperatorError(f"synth of {', '.join(envs)} in {tree} failed: {last}")
    return {env: read_assembly(outdir / env) for env in envs}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = OperatorParser(prog="make diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="git ref to compare the working tree with (default HEAD)")
    parser.add_argument("--envs", nargs="+", choices=ENVIRONMENT_NAMES, default=list(ENVIRONMENT_NAMES))
    args = parser.parse_args(argv)
    return guarded("make diff", lambda: run(args.base, args.envs, out or sys.stdout))


def run(base: str, envs: Sequence[str], out: TextIO) -> int:
    with tempfile.TemporaryDirectory(prefix="risk-diff-") as tmp:
        work = Path(tmp)
        export_tree(base, work / "base")
        out.write(f"infrastructure diff: {base} -> working tree ({', '.join(envs)}; unbundled, no AWS)\n")
        old = synthesize(work / "base", envs, work / "out" / "base")
        new = synthesize(REPO_ROOT, envs, work / "out" / "head")
        for env in envs:
            report(env, diff_assemblies(old[env], new[env]), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
