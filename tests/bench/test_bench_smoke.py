"""Smoke tests of the benchmarks: each runs on a tiny input and returns well-formed figures.

No timing is asserted (benchmarks report, tests check correctness); what is checked is that each
benchmark measures what it claims: the counts, the redelivery and the statement budget are exact.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from risk.score.scorers import load_scorer
from risk.score.state import UserState
from risk.score.store import DynamoStateStore
from tools.bench import apicalls, assets, dynamo, hotpath, loader, warmstate
from tools.bench.dynamo import FakeTable
from tools.bench.report import Figure, write_json
from tools.pg.local import LocalPostgres


def well_formed(figures: list[Figure], bench: str) -> dict[str, Figure]:
    assert figures, f"{bench} produced no figures"
    for f in figures:
        assert f.bench == bench
        assert f.name and f.unit
        assert math.isfinite(f.value) and f.value >= 0
        if f.ratio is not None:
            assert math.isfinite(f.ratio) and f.ratio > 0 and f.baseline
        if f.target:
            assert f.met in (True, False)
        assert f.name in f.line()
    return {f.name: f for f in figures}


def test_hotpath_runs_all_three_paths_on_the_same_records() -> None:
    by_name = well_formed(hotpath.run(count=300, batch=100, repeats=1), "hotpath")
    speedup = by_name["hot path speed-up over naive (a)"]
    assert speedup.met == (speedup.ratio is not None and speedup.ratio >= hotpath.TARGET_VS_NAIVE)


def test_every_path_handles_every_record() -> None:
    records = hotpath.json_records(120)
    for fn in (hotpath.candidate, hotpath.baseline_naive, hotpath.floor, hotpath.parse_only):
        assert fn(records, 50) == len(records)


def test_naive_baseline_validates_like_the_contract() -> None:
    records = hotpath.json_records(50)
    with pytest.raises(Exception, match="validation error"):
        hotpath.naive.score_records([b'{"event_id": "e1"}'], {}, load_scorer({}), hotpath.ARRIVAL)
    table: dict[str, tuple[int, bytes]] = {}
    assert hotpath.naive.score_records(records, table, load_scorer({}), hotpath.ARRIVAL) == 50
    assert table  # one state per user was written back


def test_loader_counts_statements_within_budget_and_one_row_per_event(pg_server: LocalPostgres) -> None:
    dsn = pg_server.create_database("bench_smoke")
    try:
        figures = loader.run(sizes=(5, 20), dsn=dsn, repeats=1, table_sizes=(0, 3_000), table_batch=50)
        by_name = well_formed(figures, "loader")
    finally:
        pg_server.drop_database("bench_smoke")
    # CREATE, 1 INSERT, in-batch DELETE | LOCK, 1 or 2 loaded DELETEs (20 events over the day), INSERT, DROP
    assert by_name["SQL statements per batch of 20"].value in (7, 8)
    assert by_name["SQL statements per batch of 20"].met is True
    assert by_name["batch 50 into a table of 0 (baseline)"].value > 0
    growth = by_name["batch 50 into a table of 3,000"]
    assert growth.ratio is not None and growth.ratio > 0 and growth.target == "<= 1.5x"
    assert by_name["rows after redelivery / distinct events (20)"].value == 1.0
    assert by_name["rows after redelivery / distinct events (20)"].met is True


def test_api_calls_through_the_real_handlers(pg_server: LocalPostgres) -> None:
    dsn = pg_server.create_database("bench_calls")
    try:
        by_name = well_formed(apicalls.run(count=120, dsn=dsn), "apicalls")
    finally:
        pg_server.drop_database("bench_calls")
    # No poller traffic is counted: only what the handlers call.
    assert not any("ReceiveMessage" in n or "GetRecords" in n or "DeleteMessage" in n for n in by_name)
    assert any(n.startswith("score: dynamodb BatchGetItem") for n in by_name)
    assert by_name["calls per 1,000 events outside per-user state writes"].met is True
    writes = next(f for n, f in by_name.items() if n.startswith("state writes per user per batch"))
    assert writes.value == 1.0 and writes.met is True


def test_asset_sizes_of_the_code_and_a_missing_layer(tmp_path: Path) -> None:
    by_name = well_formed(assets.run(cache_root=tmp_path), "assets")
    code = next(f for n, f in by_name.items() if n.startswith("code asset parse/score/load"))
    assert code.value > 0
    assert any(n.startswith("dependencies layer: not built") for n in by_name)
    names = {arcname for _, arcname in assets._bundled(tmp_path / "code", include_schema=False)}
    assert {"risk/parse/handler.py", "risk/score/handler.py", "risk/load/handler.py"} <= names
    assert "risk/score/__pycache__/handler.cpython-313.pyc" in names  # what Lambda's Python reads
    assert not any(n.endswith("requirements.txt") for n in names)


def test_json_report_round_trips(tmp_path: Path) -> None:
    figures = [Figure("x", "a", 1.5, "s"), Figure("x", "b", 2.0, "x", "a", 2.0, ">= 2x", True)]
    path = tmp_path / "bench.json"
    write_json(figures, path)
    doc = json.loads(path.read_text())
    assert [f["name"] for f in doc["figures"]] == ["a", "b"]
    assert doc["figures"][1]["met"] is True and doc["machine"]["cpu_count"]


def test_warmstate_counts_units_as_dynamodb_bills_them() -> None:
    item = {"user_id": {"S": "u-1"}, "state": {"B": "AAAA"}, "version": {"N": "12"}}
    assert dynamo.item_size(item) == len("user_id") + 3 + len("state") + 3 + len("version") + 2
    assert dynamo.write_units(1024) == 1 and dynamo.write_units(1025) == 2 and dynamo.write_units(10, 3000) == 3
    assert dynamo.read_units(0) == 1 and dynamo.read_units(4097) == 2
    by_name = well_formed(
        warmstate.run(users=30, history=600, count=200, batch=50, repeats=1, heavy=((2, 20), (4, 5))), "warmstate"
    )
    assert by_name[warmstate.WARM_WCU].value >= 1.0  # every changed user writes at least one unit
    heavy = by_name[warmstate.HEAVY_WCU]
    assert heavy.met == (heavy.value <= warmstate.TARGET_UNITS)


def test_one_event_per_user_per_batch() -> None:
    events = warmstate._events(warmstate.heavy_mix(((3, 20),), days=1))
    batches = warmstate.one_per_user(events, 2)
    assert [e for b in batches for e in b] == events
    assert all(len(b) <= 2 and len({e.user_id for e in b}) == len(b) for b in batches)


def test_fake_table_refuses_a_stale_version() -> None:
    table = FakeTable("t")
    store = DynamoStateStore(table.client(), "t", 30)
    assert store.save(UserState("u-1"))
    assert not store.save(UserState("u-1"))  # version 0 again: the item exists
    assert set(store.load(["u-1", "u-2"])) == {"u-1"}
    assert table.calls == {"PutItem": 2, "BatchGetItem": 1} and table.read_units == 2 and table.write_units == 2


def test_coldstart_probes_count_what_the_runtime_compiles_over_task_root_and_layer(tmp_path: Path) -> None:
    from stacks.bundling import compile_bytecode, runtime_python  # noqa: PLC0415 (the CDK: only this test needs it)
    from tools.bench import coldstart  # noqa: PLC0415

    task, layer = tmp_path / "task", tmp_path / "layer"
    (task / "fn").mkdir(parents=True)
    (task / "fn" / "__init__.py").write_text("import dep\n")
    (layer / "python" / "dep").mkdir(parents=True)
    (layer / "python" / "dep" / "__init__.py").write_text("X = 1\n")
    probe = coldstart.Probe(runtime_python(), task, layer)
    assert probe.env["PYTHONDONTWRITEBYTECODE"] == "1" and probe.env["LAMBDA_TASK_ROOT"] == str(task)
    assert probe.compiled("fn") == 2  # the standard library is read compiled, as Lambda's runtime ships it
    assert not list(tmp_path.rglob("*.pyc"))  # read-only as in Lambda: nothing compiled is kept
    compile_bytecode(layer, "/opt", runtime_python())
    assert probe.compiled("fn") == 1
    compile_bytecode(task, "/var/task", runtime_python())
    assert probe.compiled("fn") == 0
    assert probe.seconds("fn", bytecode=False) >= 0.0  # runs with every .pyc outside the stdlib ignored
