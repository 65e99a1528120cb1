"""``ProcessingFailures`` by stage and cause: the failure metric every handler emits.

The handlers catch exceptions and return partial batch failures, so ``AWS/Lambda Errors`` stays at 0
when a dependency fails; this metric is what the ``<stage>-failing`` alarms read instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from risk.common import telemetry


def emit_failures(stage: str, environment: str, counts: Mapping[str, int]) -> None:
    """One EMF document per non-zero cause; a cause not in the contract is a bug, not a new series."""
    spec = telemetry.PROCESSING_FAILURES
    for cause, count in sorted(counts.items()):
        if cause not in telemetry.FAILURE_CAUSES[stage]:
            raise ValueError(f"{stage}: failure cause {cause!r} is not in telemetry.FAILURE_CAUSES")
        if count <= 0:
            continue
        with single_metric(
            name=spec.name,
            unit=MetricUnit(spec.unit),
            value=count,
            namespace=telemetry.NAMESPACE,
            default_dimensions={"service": telemetry.SERVICE, "environment": environment},
        ) as metric:
            metric.add_dimension(name="stage", value=stage)
            metric.add_dimension(name="cause", value=cause)
