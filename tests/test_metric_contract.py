"""The metric contract: what the dashboards and alarms read is what the handlers emit, and nothing else.

Two sides are checked against ``risk.common.telemetry.ALL_METRICS`` (names and dimension names):

* the synthesized monitoring: every custom metric (namespace ``RiskScoring``) referenced by a dashboard
  body (metric arrays and SEARCH expressions) or an alarm (plain or metric-math);
* the Lambda code: an AST scan of ``lambdas/risk`` for metric calls (``add_metric``, ``single_metric``,
  ``add_dimension``, ``set_default_dimensions``, ``put_metric_data``) whose names are not taken from
  the telemetry module, and a check that each contract metric is referenced by the code at all.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from risk.common import telemetry
from stacks.config import load_environment
from tests.infra.monitoring import monitor_imported

REPO_ROOT = Path(__file__).resolve().parent.parent
CODE_ROOT = REPO_ROOT / "lambdas" / "risk"
TELEMETRY_FILE = CODE_ROOT / "common" / "telemetry.py"

Metric = tuple[str, frozenset[str]]  # (name, dimension names)
CONTRACT: set[Metric] = {(s.name, frozenset(s.dimensions)) for s in telemetry.ALL_METRICS}
# Dimension names that would carry a per-user or per-event value.
HIGH_CARDINALITY = re.compile(
    r"(^|_)(user|customer|account|event|message|request|session|card|ip)(_|$)|(^|_)id$", re.IGNORECASE
)


# ----------------------------------------------------------------------------------------------- synthesized side


def _template(env: str) -> dict[str, Any]:
    """The monitoring construct for one environment, on imported resources (only its own resources)."""
    cfg = load_environment(env)
    stack = cdk.Stack(cdk.App(), f"Contract-{env}", env=cdk.Environment(region=cfg.region))
    monitor_imported(stack, cfg)
    return Template.from_stack(stack).to_json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["dev", "prod"])
def template(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, _template(request.param)


def _render(value: Any) -> str:
    """A string or an Fn::Join of strings and tokens, tokens replaced by a placeholder."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return str(separator).join(p if isinstance(p, str) else "<token>" for p in parts)


_SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'")


def _from_expression(expression: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of each SEARCH with a schema; dimension values from its terms."""
    for match in _SEARCH.finditer(expression):
        namespace, *dimensions = (p.strip() for p in match["schema"].split(","))
        terms = dict(re.findall(r'(\w+)="([^"]*)"', match["terms"]))
        name = terms.pop("MetricName", None)
        assert name, f"SEARCH without a MetricName: {expression}"
        yield namespace, name, {d: terms.get(d, "*") for d in dimensions}


def dashboard_metrics(tpl: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for resource in tpl["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = json.loads(_render(resource["Properties"]["DashboardBody"]))
        for widget in body["widgets"]:
            for entry in widget["properties"].get("metrics", []):
                if isinstance(entry[0], dict):  # a math expression
                    found.extend(_from_expression(entry[0]["expression"]))
                    continue
                fields = [e for e in entry if not isinstance(e, dict)]
                namespace, name, *pairs = fields
                found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics(tpl: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for resource in tpl["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if "MetricName" in props:
            found.append(
                (props["Namespace"], props["MetricName"], {d["Name"]: d["Value"] for d in props.get("Dimensions", [])})
            )
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                m = query["MetricStat"]["Metric"]
                found.append(
                    (m["Namespace"], m["MetricName"], {d["Name"]: d["Value"] for d in m.get("Dimensions", [])})
                )
            else:
                found.extend(_from_expression(query["Expression"]))
    return found


def _custom(metrics: list[tuple[str, str, dict[str, str]]]) -> set[Metric]:
    return {(name, frozenset(dims)) for ns, name, dims in metrics if ns == telemetry.NAMESPACE}


def test_dashboards_read_only_contract_metrics_and_show_all_of_them(template: tuple[str, dict[str, Any]]) -> None:
    _, tpl = template
    on_dashboards = _custom(dashboard_metrics(tpl))
    assert on_dashboards - CONTRACT == set(), "dashboards read metrics nobody emits"
    assert CONTRACT - on_dashboards == set(), "metrics are emitted but on no dashboard"


def test_alarms_read_only_contract_metrics(template: tuple[str, dict[str, Any]]) -> None:
    _, tpl = template
    in_alarms = _custom(alarm_metrics(tpl))
    assert in_alarms, "no alarm reads a custom metric: the collector is broken"
    assert in_alarms - CONTRACT == set()


def test_custom_metrics_are_read_for_this_environment_and_service(template: tuple[str, dict[str, Any]]) -> None:
    env, tpl = template
    for namespace, name, dims in dashboard_metrics(tpl) + alarm_metrics(tpl):
        if namespace == telemetry.NAMESPACE:
            assert dims.get("environment") == env, (name, dims)
            assert dims.get("service") == telemetry.SERVICE, (name, dims)


def test_contract_dimensions_are_low_cardinality() -> None:
    for spec in telemetry.ALL_METRICS:
        for dimension in spec.dimensions:
            assert not HIGH_CARDINALITY.search(dimension), f"{spec.name}: dimension {dimension} looks per-user/event"
    assert HIGH_CARDINALITY.search("user_id") and HIGH_CARDINALITY.search("event_id")  # the pattern bites


def test_contract_names_are_unique() -> None:
    names = [s.name for s in telemetry.ALL_METRICS]
    assert len(names) == len(set(names))


# ----------------------------------------------------------------------------------------------- code side

_METRIC_CALLS = {"add_metric", "single_metric"}
CONTRACT_DIMENSIONS = {d for s in telemetry.ALL_METRICS for d in s.dimensions}


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _argument(node: ast.Call, keyword: str, position: int) -> ast.expr | None:
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    return node.args[position] if len(node.args) > position else None


def metric_problems(source: str, filename: str = "<string>") -> list[str]:
    """Metric names and dimensions in one module that do not come from the contract."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        call = _call_name(node)
        where = f"{filename}:{node.lineno}"
        if call in _METRIC_CALLS:
            name = _argument(node, "name", 0)
            if isinstance(name, ast.Constant | ast.JoinedStr):
                problems.append(f"{where}: {call} with a literal name; use a risk.common.telemetry constant")
        elif call == "add_dimension":
            name = _argument(node, "name", 0)
            if isinstance(name, ast.Constant) and name.value not in CONTRACT_DIMENSIONS:
                problems.append(f"{where}: dimension {name.value!r} is not in the metric contract")
            elif isinstance(name, ast.JoinedStr):
                problems.append(f"{where}: computed dimension name")
        elif call == "set_default_dimensions":
            for kw in node.keywords:
                if kw.arg is not None and kw.arg not in telemetry.BASE_DIMENSIONS:
                    problems.append(f"{where}: default dimension {kw.arg!r} is not a base dimension")
        elif call == "put_metric_data":
            problems.append(f"{where}: put_metric_data bypasses the EMF metrics of Powertools")
    return problems


def _code_files() -> list[Path]:
    return sorted(p for p in CODE_ROOT.rglob("*.py") if p != TELEMETRY_FILE)


def test_the_scanner_flags_names_outside_the_contract() -> None:
    bad = (
        'metrics.add_metric(name="Handled", unit="Count", value=1)\n'
        'single_metric(f"Seen{x}", "Count", 1)\n'
        'metric.add_dimension(name="user_id", value=u)\n'
        "metrics.set_default_dimensions(environment=e, event_id=i)\n"
        "cloudwatch.put_metric_data(Namespace='x', MetricData=[])\n"
    )
    assert len(metric_problems(bad)) == 5
    good = (
        "metrics.add_metric(name=telemetry.EVENTS_PARSED.name, unit=telemetry.EVENTS_PARSED.unit, value=1)\n"
        "metrics.add_metric(name=spec.name, unit=spec.unit, value=n)\n"
        'metric.add_dimension(name="reason", value=reason.value)\n'
        "metrics.set_default_dimensions(environment=env)\n"
    )
    assert metric_problems(good) == []


def test_handlers_emit_only_contract_names_and_dimensions() -> None:
    problems = [p for f in _code_files() for p in metric_problems(f.read_text(), str(f.relative_to(REPO_ROOT)))]
    assert problems == []


def _constant_names() -> dict[str, str]:
    """Contract metric name -> the telemetry constant that defines it."""
    return {
        value.name: attr
        for attr, value in vars(telemetry).items()
        if isinstance(value, telemetry.MetricSpec) and value in telemetry.ALL_METRICS
    }


def _referenced_constants() -> set[str]:
    """telemetry constants used by the Lambda code: ``telemetry.X`` or ``from risk.common.telemetry import X``."""
    used: set[str] = set()
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "telemetry":
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "risk.common.telemetry":
                used.update(alias.name for alias in node.names)
    return used


@pytest.mark.parametrize("spec", telemetry.ALL_METRICS, ids=lambda s: s.name)
def test_every_contract_metric_is_emitted_by_the_code(spec: telemetry.MetricSpec) -> None:
    constant = _constant_names()[spec.name]
    assert constant in _referenced_constants(), (
        f"no module under lambdas/risk uses telemetry.{constant}: the {spec.stage} stage does not emit {spec.name}"
    )
