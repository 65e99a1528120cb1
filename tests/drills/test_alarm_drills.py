"""Drills that prove the alarms: each fires exactly the alarms its runbook names, a clean run fires none.

The drills are ``tools.local.drills`` (what ``make demo ARGS="--drill NAME"`` runs): the real handlers over
moto and an embedded PostgreSQL with one fault injected, then the alarms the stacks synthesize evaluated
against the metrics the handlers emitted, one pipeline round per minute. Each runbook lists what its
drill fires on a line ``Fires in the local drill: `a`, `b```; the tests read that line, so the runbook
and the alarms cannot drift apart.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stacks.config import EnvironmentConfig
from tools.local import demo
from tools.local.alarms import AlarmDefinition, definitions
from tools.local.drills import DRILLS, run_drill, runbook_alarms
from tools.pg.local import LocalPostgres

# The alarm definitions come from the synthesized stacks: the CDK runs on the tooling Python only, so
# `make test-runtime` (the Lambda code on the functions' Python, without the CDK) leaves these out.
pytestmark = pytest.mark.synth

FAULT_DRILLS = sorted(name for name, d in DRILLS.items() if d.runbook is not None)


@pytest.fixture(scope="module")
def alarm_definitions() -> list[AlarmDefinition]:
    from stacks.config import load_environment  # noqa: PLC0415

    return definitions(load_environment("dev"))


def test_the_drills_are_warehouse_down_state_throttling_and_poison_plus_a_clean_run() -> None:
    assert set(DRILLS) == {"clean", "warehouse-down", "state-throttling", "poison"}
    assert DRILLS["clean"].runbook is None


@pytest.mark.parametrize("name", FAULT_DRILLS)
def test_each_runbook_names_only_alarms_that_exist(name: str, alarm_definitions: list[AlarmDefinition]) -> None:
    runbook = DRILLS[name].runbook
    assert runbook is not None
    named = runbook_alarms(runbook)
    assert named, runbook
    assert named <= {a.key for a in alarm_definitions}, (runbook, named - {a.key for a in alarm_definitions})


@pytest.mark.usefixtures("aws")
def test_a_clean_run_fires_no_alarm(
    cfg: EnvironmentConfig,
    tmp_path: Path,
    pg_server: LocalPostgres,
    alarm_definitions: list[AlarmDefinition],
) -> None:
    result = run_drill("clean", cfg, tmp_path, alarm_definitions, pg_server)
    assert result.fired == set()
    assert result.ok
    # the run did real work on the evaluated alarms: the product's and the queues' metrics were there
    assert sum(v.evaluated for v in result.verdicts) >= 10


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("name", FAULT_DRILLS)
def test_each_drill_fires_exactly_the_alarms_its_runbook_names(
    name: str,
    cfg: EnvironmentConfig,
    tmp_path: Path,
    pg_server: LocalPostgres,
    alarm_definitions: list[AlarmDefinition],
) -> None:
    result = run_drill(name, cfg, tmp_path, alarm_definitions, pg_server)
    assert result.fired == result.expected
    assert all(v.fired_at is not None and 1 <= v.fired_at <= result.minutes for v in result.verdicts if v.fired)


def test_make_demo_drill_prints_which_alarms_fired_and_when() -> None:
    out = io.StringIO()
    assert demo.main(["--drill", "poison"], out=out) == 0
    text = out.getvalue()
    assert "== drill poison:" in text
    assert "FIRED  parsed-dlq-not-empty" in text and "at minute" in text
    assert "OK: exactly the alarms docs/runbooks/dlq-full.md names fired (parsed-dlq-not-empty)" in text


def test_make_demo_drill_refuses_an_external_warehouse_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--drill", "warehouse-down", "--dsn", "not-a-dsn"], out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--dsn" in err
