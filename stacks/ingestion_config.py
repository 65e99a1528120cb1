"""Settings of the Entry stack's paths (cdk.json ``environments.<env>.ingestion``), without the CDK.

Read by the stack (``stacks.entry``), the local runner (``tools.local.entry``) and the tests, so the
local run uses the deployed function's memory and timeout and the deployed queue names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.config import ConfigError, read_environments

INGEST_STAGE = "ingest"
INGEST_QUEUE = "ingest"
INGEST_DLQ = "ingest-dlq"


@dataclass(frozen=True)
class FileIngestConfig:
    memory_mb: int
    timeout_s: int
    max_concurrency: int
    moved_file_expiry_days: int  # inbox/done/ and inbox/failed/ (files and reports)


@dataclass(frozen=True)
class IngestionConfig:
    file_ingest: FileIngestConfig


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
    raw = (envs.get(env_name) or {}).get("ingestion", {}).get("file_ingest")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: missing")
    return IngestionConfig(
        FileIngestConfig(
            memory_mb=_int(raw.get("memory_mb"), f"{path}.memory_mb", 128, 10_240),
            timeout_s=_int(raw.get("timeout_s"), f"{path}.timeout_s", 60, 900),
            max_concurrency=_int(raw.get("max_concurrency"), f"{path}.max_concurrency", 2, 1000),
            moved_file_expiry_days=_int(raw.get("moved_file_expiry_days"), f"{path}.moved_file_expiry_days", 1, 3650),
        )
    )
