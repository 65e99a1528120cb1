"""Alarms on the warehouse retention job, in the Monitoring stack (where the topics are).

Two warnings: the job failed (any error in a day), and the job did not run (no invocation in two
days: a disabled schedule or a broken target). Built from ``stacks/app_factory.py`` so that the
Schema stack, which the Monitoring stack already follows, needs no reference back to the topics.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig

DAY = Duration.days(1)


def retention_alarms(
    scope: Construct, cfg: EnvironmentConfig, function: lambda_.IFunction, topic: sns.ITopic
) -> dict[str, cw.Alarm]:
    alarms = {
        "retention-failed": cw.Alarm(
            scope,
            "RetentionFailed",
            alarm_name=f"{cfg.prefix}-retention-failed",
            alarm_description="The daily risk_events retention job failed (docs/runbooks/erasure.md, retention).",
            metric=function.metric_errors(period=DAY, statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        ),
        "retention-not-run": cw.Alarm(
            scope,
            "RetentionNotRun",
            alarm_name=f"{cfg.prefix}-retention-not-run",
            alarm_description="The daily risk_events retention job has not run for two days (its schedule).",
            metric=function.metric_invocations(period=DAY, statistic="Sum"),
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING,
        ),
    }
    action = cw_actions.SnsAction(topic)
    for alarm in alarms.values():
        alarm.add_alarm_action(action)  # once on ALARM: no OK mail (paging hygiene, docs/observability.md)
    return alarms
