"""Settings of the Entry stack's paths (cdk.json ``environments.<env>.ingestion``), without the CDK.

Read by the stack (``stacks.entry``), the local runner (``tools.local.entry``) and the tests, so the
local run uses the deployed function's memory and timeout and the deployed queue names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stacks.config import ConfigError, read_environments

INGEST_STAGE = "ingest"
INGEST_QUEUE = "ingest"
INGEST_DLQ = "ingest-dlq"
WEBHOOK_STAGE = "webhook"


@dataclass(frozen=True)
class FileIngestConfig:
    memory_mb: int
    timeout_s: int
    max_concurrency: int
    moved_file_expiry_days: int  # inbox/done/ and inbox/failed/ (files and reports)


@dataclass(frozen=True)
class EventBridgeConfig:
    max_retry_attempts: int  # the rule's target: retries before the event goes to the DLQ
    max_event_age_s: int


@dataclass(frozen=True)
class SenderThrottle:
    rate_per_s: int
    burst: int


SENDER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # a path segment, an API key and usage plan name


@dataclass(frozen=True)
class WebhookConfig:
    memory_mb: int
    timeout_s: int  # the function's; API Gateway's own integration timeout (29 s) bounds a request anyway
    reserved_concurrency: int  # the function's cap: a flood of requests cannot starve the pipeline's functions
    throttle_rate_per_s: int  # the stage's and the usage plan's steady rate (requests/s), and ...
    throttle_burst: int  # ... its burst
    waf_requests_per_5min_per_ip: int  # the web ACL's rate-based rule: one client IP over this is blocked
    # Webhook sender -> its own API key's usage plan throttle (within the stage's): one sender's flood
    # gets 429s without eating the others' share. Adding a sender here creates its key and plan.
    senders: dict[str, SenderThrottle]
    alarm_5xx_rate_pct: float  # the api-5xx-rate alarm: 5XX responses as a share of requests over 5 min
    alarm_waf_blocked_per_5min: int  # the waf-blocked-spike alarm: requests the web ACL blocked in 5 min


@dataclass(frozen=True)
class IngestionConfig:
    file_ingest: FileIngestConfig
    eventbridge: EventBridgeConfig
    webhook: WebhookConfig


# The documented EventBridge contract (docs/ingestion.md): a producer puts events with this source and
# detail-type on the environment's bus; the detail is one event document of the contract. The rule
# forwards the detail, as it is, to the stream with the user id as partition key.
EVENT_BUS_SUFFIX = "events"  # bus name: <prefix>-events
EVENT_SOURCE = "risk.events"
EVENT_DETAIL_TYPE = "RiskEvent"
EVENT_PATTERN = {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]}
EVENT_INPUT_PATHS = {"detail": "$.detail"}
EVENT_INPUT_TEMPLATE = "<detail>"
EVENT_PARTITION_KEY_PATH = "$.detail.user_id"


def _int(raw: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ConfigError(f"{path}: expected an integer, got {raw!r}")
    if not lo <= raw <= hi:
        raise ConfigError(f"{path}: {raw} is outside [{lo}, {hi}]")
    return raw


def ingestion_config(env_name: str, environments: Any = None) -> IngestionConfig:
    """``environments.<env>.ingestion`` of cdk.json, validated (a bad value names its key)."""
    envs = read_environments() if environments is None else environments
    path = f"environments.{env_name}.ingestion.file_ingest"
    ingestion = (envs.get(env_name) or {}).get("ingestion", {})
    raw = ingestion.get("file_ingest")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: missing")
    bus_path = f"environments.{env_name}.ingestion.eventbridge"
    bus = ingestion.get("eventbridge")
    if not isinstance(bus, dict):
        raise ConfigError(f"{bus_path}: missing")
    hook_path = f"environments.{env_name}.ingestion.webhook"
    hook = ingestion.get("webhook")
    if not isinstance(hook, dict):
        raise ConfigError(f"{hook_path}: missing")
    return IngestionConfig(
        FileIngestConfig(
            memory_mb=_int(raw.get("memory_mb"), f"{path}.memory_mb", 128, 10_240),
            timeout_s=_int(raw.get("timeout_s"), f"{path}.timeout_s", 60, 900),
            max_concurrency=_int(raw.get("max_concurrency"), f"{path}.max_concurrency", 2, 1000),
            moved_file_expiry_days=_int(raw.get("moved_file_expiry_days"), f"{path}.moved_file_expiry_days", 1, 3650),
        ),
        EventBridgeConfig(  # EventBridge's own bounds for a target's retry policy
            max_retry_attempts=_int(bus.get("max_retry_attempts"), f"{bus_path}.max_retry_attempts", 0, 185),
            max_event_age_s=_int(bus.get("max_event_age_s"), f"{bus_path}.max_event_age_s", 60, 86_400),
        ),
        WebhookConfig(  # bounds: Lambda's memory, API Gateway's 29 s integration timeout, WAF's rate limits
            memory_mb=_int(hook.get("memory_mb"), f"{hook_path}.memory_mb", 128, 10_240),
            timeout_s=_int(hook.get("timeout_s"), f"{hook_path}.timeout_s", 5, 29),
            reserved_concurrency=_int(hook.get("reserved_concurrency"), f"{hook_path}.reserved_concurrency", 1, 1000),
            throttle_rate_per_s=_int(hook.get("throttle_rate_per_s"), f"{hook_path}.throttle_rate_per_s", 1, 10_000),
            throttle_burst=_int(hook.get("throttle_burst"), f"{hook_path}.throttle_burst", 1, 5_000),
            waf_requests_per_5min_per_ip=_int(
                hook.get("waf_requests_per_5min_per_ip"), f"{hook_path}.waf_requests_per_5min_per_ip", 10, 2_000_000_000
            ),
            senders=_senders(hook, hook_path),
            alarm_5xx_rate_pct=_pct(hook.get("alarm_5xx_rate_pct"), f"{hook_path}.alarm_5xx_rate_pct"),
            alarm_waf_blocked_per_5min=_int(
                hook.get("alarm_waf_blocked_per_5min"), f"{hook_path}.alarm_waf_blocked_per_5min", 1, 2_000_000_000
            ),
        ),
    )


def _pct(raw: Any, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"{path}: expected a number, got {raw!r}")
    if not 0 < raw <= 100:
        raise ConfigError(f"{path}: {raw} is outside (0, 100]")
    return float(raw)


def _senders(hook: dict[str, Any], hook_path: str) -> dict[str, SenderThrottle]:
    """Each sender's throttle, within the stage's (API Gateway would silently cap it there)."""
    raw = hook.get("senders")
    if not isinstance(raw, dict):
        raise ConfigError(f"{hook_path}.senders: expected an object {{sender: {{rate_per_s, burst}}}}, got {raw!r}")
    rate_cap = _int(hook.get("throttle_rate_per_s"), f"{hook_path}.throttle_rate_per_s", 1, 10_000)
    burst_cap = _int(hook.get("throttle_burst"), f"{hook_path}.throttle_burst", 1, 5_000)
    senders = {}
    for name, throttle in raw.items():
        path = f"{hook_path}.senders.{name}"
        if not SENDER_NAME.match(name):
            raise ConfigError(f"{path}: a sender name is lowercase letters, digits and hyphens (at most 63)")
        if not isinstance(throttle, dict):
            raise ConfigError(f"{path}: expected {{rate_per_s, burst}}, got {throttle!r}")
        senders[name] = SenderThrottle(
            rate_per_s=_int(throttle.get("rate_per_s"), f"{path}.rate_per_s", 1, rate_cap),
            burst=_int(throttle.get("burst"), f"{path}.burst", 1, burst_cap),
        )
    return senders
