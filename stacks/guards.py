"""Small shared rules of the stacks: removal policy from config, and cdk-nag acknowledgements.

Every acknowledgement names the exact finding id (``Rule[Finding]`` for IAM5) and a reason
specific to the resource, so a reviewer can judge each one; the infra tests fail on any
finding that is not acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import re

from aws_cdk import Acknowledgment, Reference, RemovalPolicy, Stack, Tokenization, Validations
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from stacks.config import EnvironmentConfig


def removal_policy(cfg: EnvironmentConfig) -> RemovalPolicy:
    """RETAIN for every stateful resource in prod (config enforces it), DESTROY elsewhere."""
    return RemovalPolicy.RETAIN if cfg.removal_policy == "retain" else RemovalPolicy.DESTROY


_RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def log_retention(cfg: EnvironmentConfig) -> logs.RetentionDays:
    """cfg.log_retention_days as the CDK enum (config only admits CloudWatch's periods)."""
    return logs.RetentionDays[_RETENTION[cfg.log_retention_days]]


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` and everything below it."""
    if "::" in finding and "[" not in finding:
        raise ValueError(f"{finding}: name the exact finding, e.g. 'AwsSolutions-IAM5[Resource::*]'")
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def nag_ref(consumer: IConstruct, token: str) -> str:
    """How cdk-nag renders ``token`` (an attribute like ``bucket.bucket_arn``) inside a finding id.

    Same stack: ``<LogicalId.Attr>``. Another stack: the name of the export CDK generates for the
    reference (``<Stack>:ExportsOutput...<hash>``, CDK's makeUniqueId over ``Exports/Output<json>``).
    The infra tests synthesize every environment with cdk-nag, so a drift here fails them.
    """
    resolved = Stack.of(consumer).resolve(token)
    ((intrinsic, args),) = resolved.items()
    if intrinsic == "Fn::GetAtt":
        local = f"<{args[0]}.{args[1]}>"
    elif intrinsic == "Ref":
        local = f"<{args}>"
    else:
        raise ValueError(f"cannot render {resolved!r} as cdk-nag does")
    producer = _producer(token)
    if producer is None or producer is Stack.of(consumer):
        return local
    exportable = json.dumps(resolved, separators=(",", ":"))
    components = ["Exports", f"Output{exportable}"]
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()[:8].upper()
    human = "".join(re.sub(r"[^A-Za-z0-9]", "", c) for c in components)
    return f"{producer.stack_name}:{human}{digest}"


def _producer(token: str) -> Stack | None:
    """The stack that defines the resource ``token`` refers to."""
    reference = Tokenization.reverse(token)
    return Stack.of(reference.target) if isinstance(reference, Reference) else None
