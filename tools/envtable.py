"""The README's environments table, rendered from ``cdk.json`` (``tests/test_readme.py`` keeps them equal)."""

from __future__ import annotations

from stacks.config import ENVIRONMENT_NAMES, EnvironmentConfig, load_environment


def _row(label: str, cfgs: list[EnvironmentConfig], value: object) -> str:
    cells = [str(value(c)) if callable(value) else str(value) for c in cfgs]
    return f"| {label} | " + " | ".join(cells) + " |"


def _shadows(c: EnvironmentConfig) -> list[str]:
    """Bundled shadows by model file, the provisioned SageMaker shadow by endpoint."""
    endpoint = c.scoring.shadow_endpoint
    return [sh.model_file for sh in c.scoring.shadows] + ([f"SageMaker {endpoint}"] if endpoint else [])


def render() -> str:
    cfgs = [load_environment(name) for name in ENVIRONMENT_NAMES]

    def kinesis(c: EnvironmentConfig) -> str:
        mode = c.kinesis.capacity_mode.lower().replace("_", "-")
        shards = f", {c.kinesis.shard_count} shards" if c.kinesis.shard_count else ""
        return f"{mode}{shards}, {c.kinesis.retention_hours} h"

    def fn(stage: str) -> object:
        def cell(c: EnvironmentConfig) -> str:
            f = c.function(stage)
            conc = f", max conc. {f.max_concurrency}" if f.max_concurrency else ""
            return f"{f.memory_mb} MB, {f.timeout_s} s, batch {f.batch_size}/{f.batching_window_s} s{conc}"

        return cell

    rows = [
        "| | " + " | ".join(ENVIRONMENT_NAMES) + " |",
        "|---|" + "---|" * len(cfgs),
        _row("region, zones", cfgs, lambda c: f"{c.region}, {len(c.availability_zones)}"),
        _row("Kinesis", cfgs, kinesis),
        _row(
            "parse mapping",
            cfgs,
            lambda c: (
                f"batch {c.kinesis_source.batch_size}, {c.kinesis_source.retry_attempts} retries, "
                f"max age {c.kinesis_source.max_record_age_s} s"
            ),
        ),
        _row("parse", cfgs, fn("parse")),
        _row("score", cfgs, fn("score")),
        _row("load", cfgs, fn("load")),
        _row("maxReceiveCount", cfgs, lambda c: c.queues.max_receive_count),
        _row("parsed FIFO message groups", cfgs, lambda c: c.queues.parsed_message_groups),
        _row(
            "state TTL / duplicate horizon", cfgs, lambda c: f"{c.state_ttl_days} d / {c.state_dedupe_horizon_days} d"
        ),
        _row("Redshift RPU", cfgs, lambda c: f"{c.redshift.base_rpu}-{c.redshift.max_rpu}"),
        _row(
            "scorer (champion; shadows)",
            cfgs,
            lambda c: f"{c.scoring.scorer} {c.scoring.model_file}; " + (", ".join(_shadows(c)) or "none"),
        ),
        _row("log retention", cfgs, lambda c: f"{c.log_retention_days} d"),
        _row("removal policy", cfgs, lambda c: c.removal_policy),
        _row(
            "object lock",
            cfgs,
            lambda c: f"governance, {c.archive.object_lock_retention_days} d" if c.object_lock else "off",
        ),
        _row(
            "archive expiry raw/enriched/quarantine",
            cfgs,
            lambda c: (
                f"{c.archive.raw_expiry_days}/{c.archive.enriched_expiry_days}/{c.archive.quarantine_expiry_days} d"
            ),
        ),
        _row("risk_events retention", cfgs, lambda c: f"{c.archive.warehouse_retention_days} d"),
        _row("iterator age alarm", cfgs, lambda c: f"{c.alarms.iterator_age_ms // 1000} s"),
        _row("load lag alarm (p90 from arrival)", cfgs, lambda c: f"{c.alarms.end_to_end_lag_s} s"),
        _row("work queue retention", cfgs, lambda c: f"{c.queues.retention_days} d"),
        _row(
            "Redshift usage limit (RPU-h/day, on breach)",
            cfgs,
            lambda c: f"{c.redshift.rpu_hours_per_day}, {c.redshift.usage_limit_breach_action}",
        ),
        _row(
            "silent producer alarm",
            cfgs,
            lambda c: f"{c.alarms.silent_producer_minutes} min" if c.alarms.silent_producer_minutes else "off",
        ),
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(render())
