"""Which alarms would have fired: the synthesized alarm definitions against a local run's metrics.

One source of truth: the definitions are read from the CloudFormation that ``PipelineMonitoring``
synthesizes for this environment (threshold, comparison, period, statistic, metric math, M of N,
missing-data treatment), built on imported resources carrying the local run's names, so the
dimensions match what the local run records. Nothing here restates an alarm.

The metrics are ``MetricTotals.series`` of :mod:`tools.local.pipeline`: every EMF value the handlers
printed, plus what the local run measures itself (SQS visible messages per queue, Lambda invocations
and crashes). One pipeline round is one minute. An alarm reading anything else (iterator ages,
Firehose, DynamoDB, Redshift, Lambda duration) has no local source and is reported as not evaluated,
never as OK.

    python -m tools.local.alarms metrics.json [--env dev]     # a file written by `make demo ARGS=--alarms`
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stacks.config import REPO_ROOT, EnvironmentConfig, load_environment
from tools.local.pipeline import SeriesKey, series_key

# What a local run measures: the product's own metrics, and the few AWS metrics the pipeline records.
LOCAL_SOURCES = {
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ("AWS/Lambda", "Invocations"),
    ("AWS/Lambda", "Errors"),
}
Series = Mapping[SeriesKey, Mapping[int, Sequence[float]]]
# Idle rounds appended to a run before its alarms are evaluated: a minute with no data must stay OK,
# and an alarm that needs M of N minutes gets them.
QUIET_MINUTES = 6


@dataclass(frozen=True)
class MetricInput:
    namespace: str
    name: str
    dimensions: dict[str, str]
    statistic: str
    period_s: int


@dataclass(frozen=True)
class AlarmDefinition:
    key: str
    severity: str
    runbook: str
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    missing: str  # breaching, notBreaching, ignore, missing
    expression: str | None  # None: the single input "m" is the alarm's metric
    inputs: dict[str, MetricInput]

    @property
    def local(self) -> bool:
        return all((m.namespace, m.name) in LOCAL_SOURCES or m.namespace == "RiskScoring" for m in self.inputs.values())


@dataclass(frozen=True)
class Verdict:
    alarm: AlarmDefinition
    evaluated: bool
    fired_at: int | None  # the local minute the alarm would have gone to ALARM

    @property
    def fired(self) -> bool:
        return self.fired_at is not None


# ----------------------------------------------------------------------------------------------- definitions


def definitions(cfg: EnvironmentConfig) -> list[AlarmDefinition]:
    """The environment's alarms as ``PipelineMonitoring`` synthesizes them, on the local run's names."""
    node_bin = str(REPO_ROOT / "node_modules" / ".bin")  # jsii runs on the pinned Node, as under `make`
    if node_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = node_bin + os.pathsep + os.environ.get("PATH", "")
    import aws_cdk as cdk  # noqa: PLC0415 - only this path needs the CDK (and Node)
    from aws_cdk import aws_dynamodb as dynamodb  # noqa: PLC0415
    from aws_cdk import aws_kinesis as kinesis  # noqa: PLC0415
    from aws_cdk import aws_lambda as lambda_  # noqa: PLC0415
    from aws_cdk import aws_sns as sns  # noqa: PLC0415
    from aws_cdk import aws_sqs as sqs  # noqa: PLC0415
    from aws_cdk.assertions import Template  # noqa: PLC0415

    from stacks.config import PARSE_FAILURES_QUEUE, WORK_QUEUES  # noqa: PLC0415
    from stacks.monitored import MonitoredResources  # noqa: PLC0415
    from stacks.observability import PipelineMonitoring  # noqa: PLC0415

    stack = cdk.Stack(cdk.App(), "LocalAlarms", env=cdk.Environment(region=cfg.region))
    arn = f"arn:aws:{{}}:{cfg.region}:123456789012:{{}}"
    queue_keys = [*(q.key for q in WORK_QUEUES), *(q.dlq_key for q in WORK_QUEUES), PARSE_FAILURES_QUEUE]
    queues = {k: sqs.Queue.from_queue_arn(stack, f"q-{k}", arn.format("sqs", cfg.queue_name(k))) for k in queue_keys}
    resources = MonitoredResources(
        functions={
            s: lambda_.Function.from_function_arn(
                stack, f"fn-{s}", arn.format("lambda", f"function:{cfg.function_name(s)}")
            )
            for s in ("parse", "score", "load")
        },
        queues={q.key: queues[q.key] for q in WORK_QUEUES},
        dead_letter_queues={k: queues[k] for k in (*(q.dlq_key for q in WORK_QUEUES), PARSE_FAILURES_QUEUE)},
        stream=kinesis.Stream.from_stream_arn(stack, "stream", arn.format("kinesis", f"stream/{cfg.prefix}-events")),
        delivery_stream_name=f"{cfg.prefix}-raw",
        state_table=dynamodb.Table.from_table_name(stack, "state", f"{cfg.prefix}-user-state"),
        redshift_namespace_name=cfg.prefix,
        redshift_workgroup_name=cfg.prefix,
    )
    topic = sns.Topic.from_topic_arn(stack, "topic", arn.format("sns", "alarms"))
    monitoring = PipelineMonitoring(stack, "Monitoring", cfg=cfg, resources=resources, alarm_topic=topic)
    by_name = {f"{cfg.prefix}-{key}": (key, info) for key, info in monitoring.alarms.items()}
    out = []
    for resource in Template.from_stack(stack).to_json()["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        key, info = by_name[props["AlarmName"]]
        expression, inputs = _inputs(props)
        out.append(
            AlarmDefinition(
                key=key,
                severity=info.severity,
                runbook=info.runbook,
                threshold=float(props["Threshold"]),
                comparison=props["ComparisonOperator"],
                evaluation_periods=int(props["EvaluationPeriods"]),
                datapoints_to_alarm=int(props.get("DatapointsToAlarm", props["EvaluationPeriods"])),
                missing=props.get("TreatMissingData", "missing"),
                expression=expression,
                inputs=inputs,
            )
        )
    return sorted(out, key=lambda d: d.key)


def _metric(metric: Mapping[str, Any], statistic: str, period: int) -> MetricInput:
    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    if not all(isinstance(v, str) for v in dims.values()):
        raise ValueError(f"{metric['MetricName']}: a dimension is not a literal name: {dims}")
    return MetricInput(metric["Namespace"], metric["MetricName"], dims, statistic, int(period))


def _inputs(props: Mapping[str, Any]) -> tuple[str | None, dict[str, MetricInput]]:
    if "MetricName" in props:
        return None, {"m": _metric(props, props.get("ExtendedStatistic") or props["Statistic"], props["Period"])}
    expressions = [q for q in props["Metrics"] if "Expression" in q]
    inputs = {
        q["Id"]: _metric(q["MetricStat"]["Metric"], q["MetricStat"]["Stat"], q["MetricStat"]["Period"])
        for q in props["Metrics"]
        if "MetricStat" in q
    }
    if not expressions and len(inputs) == 1:  # one metric with a label: CDK writes it as a query
        return None, {"m": next(iter(inputs.values()))}
    if len(expressions) != 1:
        raise ValueError(f"{props['AlarmName']}: expected one expression, got {len(expressions)}")
    return expressions[0]["Expression"], inputs


# ----------------------------------------------------------------------------------------------- evaluation


def statistic(values: Sequence[float], stat: str) -> float:
    if stat == "Sum":
        return sum(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "SampleCount":
        return float(len(values))
    if stat.startswith("p"):  # nearest rank, as CloudWatch percentiles over raw values
        ordered = sorted(values)
        rank = math.ceil(float(stat[1:]) / 100 * len(ordered))
        return ordered[max(rank, 1) - 1]
    raise ValueError(f"statistic {stat!r} is not supported locally")


def datapoints(series: Series, metric: MetricInput, minutes: int) -> list[float | None]:
    """One datapoint per period (``period_s // 60`` local minutes), None where nothing was recorded."""
    per_minute = series.get(series_key(metric.namespace, metric.name, metric.dimensions), {})
    width = max(metric.period_s // 60, 1)
    out: list[float | None] = []
    for start in range(1, minutes + 1, width):
        values = [v for m in range(start, start + width) for v in per_minute.get(m, [])]
        out.append(statistic(values, metric.statistic) if values else None)
    return out


def evaluate_expression(expression: str, values: Mapping[str, float | None]) -> float | None:
    """The CloudWatch metric math the alarms use (IF, FILL, arithmetic, comparisons) at one timestamp."""
    return _Math(values).eval(ast.parse(expression, mode="eval").body)


class _Math:
    def __init__(self, values: Mapping[str, float | None]) -> None:
        self.values = values

    def eval(self, node: ast.expr) -> float | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return self.values[node.id]
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left), self.eval(node.right)
            if left is None or right is None:
                return None
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self.eval(node.left), self.eval(node.comparators[0])
            if left is None or right is None:
                return None
            return 1.0 if _COMPARE[type(node.ops[0])](left, right) else 0.0
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args
            if node.func.id == "FILL":
                value = self.eval(args[0])
                return self.eval(args[1]) if value is None else value
            if node.func.id == "IF":
                condition = self.eval(args[0])
                if condition is None:
                    return None
                return self.eval(args[1]) if condition else self.eval(args[2])
        raise ValueError(f"metric math not supported locally: {ast.unparse(node)}")


def _divide(a: float, b: float) -> float:
    return a / b if b else math.nan


_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _divide,
}
_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Eq: lambda a, b: a == b,
}
_BREACHES: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def alarm_datapoints(alarm: AlarmDefinition, series: Series, minutes: int) -> list[float | None]:
    columns = {k: datapoints(series, m, minutes) for k, m in alarm.inputs.items()}
    if alarm.expression is None:
        return columns["m"]
    length = min(len(c) for c in columns.values())
    return [evaluate_expression(alarm.expression, {k: c[i] for k, c in columns.items()}) for i in range(length)]


def evaluate(alarm: AlarmDefinition, series: Series, minutes: int, *, local_only: bool = True) -> Verdict:
    """M of N as CloudWatch does it; missing datapoints per the alarm's treatment (the run starts with none).

    ``local_only``: an alarm reading a metric the local run cannot measure is not evaluated (never
    reported OK); False evaluates it anyway, for series written by hand (the evaluator's tests).
    """
    if local_only and not alarm.local:
        return Verdict(alarm, evaluated=False, fired_at=None)
    points = alarm_datapoints(alarm, series, minutes)
    breaches = _BREACHES[alarm.comparison]
    width = max(next(iter(alarm.inputs.values())).period_s // 60, 1)
    for i in range(len(points)):
        before: list[float | None] = [None] * max(alarm.evaluation_periods - i - 1, 0)  # before the run: no data
        window = before + points[max(0, i - alarm.evaluation_periods + 1) : i + 1]
        if alarm.missing == "breaching":
            bad = sum(1 for p in window if p is None or (not math.isnan(p) and breaches(p, alarm.threshold)))
        else:  # notBreaching counts a gap as good; ignore/missing judge only what is there
            bad = sum(1 for p in window if p is not None and not math.isnan(p) and breaches(p, alarm.threshold))
        if bad >= alarm.datapoints_to_alarm:
            return Verdict(alarm, evaluated=True, fired_at=min((i + 1) * width, minutes))
    return Verdict(alarm, evaluated=True, fired_at=None)


def evaluate_all(cfg: EnvironmentConfig, series: Series, minutes: int) -> list[Verdict]:
    return [evaluate(alarm, series, minutes) for alarm in definitions(cfg)]


def fired(verdicts: Sequence[Verdict]) -> set[str]:
    return {v.alarm.key for v in verdicts if v.fired}


def report(verdicts: Sequence[Verdict], minutes: int, out: TextIO) -> None:
    """One line per alarm that fired, then the count of quiet and of not-evaluable ones."""
    fired_now = sorted((v for v in verdicts if v.fired), key=lambda v: (v.fired_at, v.alarm.key))
    out.write(f"Alarms over {minutes} local minutes (one pipeline round = one minute):\n")
    for v in fired_now:
        a = v.alarm
        out.write(f"  FIRED  {a.key:<32} {a.severity:<8} at minute {v.fired_at:<4} runbook: {a.runbook}\n")
    if not fired_now:
        out.write("  none fired\n")
    quiet = [v for v in verdicts if v.evaluated and not v.fired]
    skipped = sorted(v.alarm.key for v in verdicts if not v.evaluated)
    out.write(f"  {len(quiet)} evaluated and quiet; {len(skipped)} not evaluated (no local source): ")
    out.write(", ".join(skipped) + "\n")
    critical = [v for v in fired_now if v.alarm.severity == "critical"]
    if critical:
        out.write("  pipeline-critical would page (warnings suppressed while it is on)\n")
    elif fired_now:
        out.write("  pipeline-unhealthy would notify the warning topic\n")


# ----------------------------------------------------------------------------------------------- files and CLI


def dump_series(series: Series, minutes: int, path: Path) -> None:
    rows = [
        {"namespace": ns, "name": name, "dimensions": dict(dims), "minutes": {str(m): list(v) for m, v in per.items()}}
        for (ns, name, dims), per in series.items()
    ]
    path.write_text(json.dumps({"minutes": minutes, "series": rows}))


def load_series(path: Path) -> tuple[dict[SeriesKey, dict[int, list[float]]], int]:
    doc = json.loads(path.read_text())
    series = {
        series_key(r["namespace"], r["name"], r["dimensions"]): {int(m): v for m, v in r["minutes"].items()}
        for r in doc["series"]
    }
    return series, int(doc["minutes"])


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local.alarms", description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", type=Path, help="the metrics file of a local run (make demo ARGS=--alarms)")
    parser.add_argument("--env", default="dev", help="whose alarm definitions (default: dev)")
    args = parser.parse_args(argv)
    series, minutes = load_series(args.metrics)
    verdicts = evaluate_all(load_environment(args.env), series, minutes)
    report(verdicts, minutes, out or sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
