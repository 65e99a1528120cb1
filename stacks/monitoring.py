"""Monitoring: the alarm topics (CMK, e-mail subscriptions) and the pipeline's dashboards and alarms.

Two topics, by severity: ``critical`` (data at risk: page) and ``warning``; who each one mails is
``alarms.subscriptions`` in cdk.json. Which alarm is critical is decided in ``stacks.observability``.

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
        # The critical topic keeps the construct id "Alarms" of the single topic it replaces (no replacement).
        self.alarm_topic = self._topic("Alarms", cfg, "critical", topic_key)
        self.warning_topic = self._topic("WarningAlarms", cfg, "warning", topic_key)

        # CALL SITE: PipelineMonitoring (stacks/observability.py, owned by the observability work).
        # Until that module exists the stack holds only the topic; once it exists, it is always used
        # (an import error inside it fails synth rather than being swallowed).
        self.monitoring: Any = None
        if importlib.util.find_spec("stacks.observability") is not None:
            observability = importlib.import_module("stacks.observability")
            self.monitoring = observability.PipelineMonitoring(
                self,
                "Pipeline",
                cfg=cfg,
                resources=resources,
                alarm_topic=self.alarm_topic,
                warning_topic=self.warning_topic,
            )

    def _topic(self, id: str, cfg: EnvironmentConfig, severity: str, key: kms.IKey) -> sns.Topic:
        topic = sns.Topic(self, id, display_name=f"{cfg.prefix} {severity} alarms", master_key=key, enforce_ssl=True)
        for address in cfg.alarms.subscriptions[severity]:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        acknowledge(
            topic,
            "Serverless-SNSRedrivePolicy",
            "The only subscriptions are e-mail to the addresses in cdk.json; SNS retries e-mail delivery itself "
            "and the alarm state stays visible in CloudWatch, so a DLQ would hold nothing actionable.",
        )
        return topic
