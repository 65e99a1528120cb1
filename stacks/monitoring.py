"""Monitoring: the alarm topic (CMK, e-mail subscription) and the pipeline's dashboards and alarms.

The dashboards and alarms themselves are ``stacks.observability.PipelineMonitoring`` (its own
module and owner); this stack gives it the topic and the resources it watches.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.guards import acknowledge
from stacks.monitored import MonitoredResources


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        topic_key: kms.IKey,
        resources: MonitoredResources,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.alarm_topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"{cfg.prefix} alarms",
            master_key=topic_key,
            enforce_ssl=True,
        )
        self.alarm_topic.add_subscription(subscriptions.EmailSubscription(cfg.alarms.email))
        acknowledge(
            self.alarm_topic,
            "Serverless-SNSRedrivePolicy",
            "The only subscription is e-mail to the on-call address; SNS retries e-mail delivery itself and "
            "the alarm state stays visible in CloudWatch, so a DLQ would hold nothing actionable.",
        )

        # CALL SITE: PipelineMonitoring (stacks/observability.py, owned by the observability work).
        # Until that module exists the stack holds only the topic; once it exists, it is always used
        # (an import error inside it fails synth rather than being swallowed).
        self.monitoring: Any = None
        if importlib.util.find_spec("stacks.observability") is not None:
            observability = importlib.import_module("stacks.observability")
            self.monitoring = observability.PipelineMonitoring(
                self, "Pipeline", cfg=cfg, resources=resources, alarm_topic=self.alarm_topic
            )
