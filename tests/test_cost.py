"""The cost model's arithmetic on a small fixed input (each line checkable by hand) and the price table's shape."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tools import cost

# Every price 1 (dollars per unit) except where a distinct one catches two terms swapped.
PRICES = dict.fromkeys(cost.PRICES_USED, 1.0) | {"dynamodb_read_request_unit": 10.0, "kinesis_shard_hour": 3_600.0}
# One vCPU at 1,024 MB, so a 1,024 MB function is 1 GB with a whole vCPU.
ASSUME = cost.Assumptions(full_vcpu_mb=1_024, call_latency_s=0.01, statements_per_load=5, statement_s=0.3)
MEASURED = cost.Measured(
    parse_cpu_s=1e-4,
    score_cpu_s=1e-4,
    load_row_s=1e-4,
    write_units=2.0,
    read_units=0.5,
    record_bytes=1_000,
    parsed_bytes=1_024,
    scored_bytes=2_048,
    gzip_ratio=0.5,
)
DEPLOYMENT = cost.Deployment(
    name="prod",
    kinesis_on_demand=False,
    shard_count=2,
    retention_hours=24,
    kinesis_batch=500,
    kinesis_window_s=1,
    parallelization=1,
    parse=cost.Stage(1_024),
    score=cost.Stage(1_024, batch_size=10, batching_window_s=1, max_concurrency=10),
    load=cost.Stage(1_024, batch_size=10, batching_window_s=10, max_concurrency=2),
    base_rpu=4,
    alarms=10,
    composite_alarms=1,
    metric_series=20,
    interface_endpoints=2,
    availability_zones=3,
)


def by_item(rate: float = 1_000) -> dict[str, float]:
    return {line.item: line.usd_per_s for line in cost.lines(DEPLOYMENT, MEASURED, PRICES, rate, ASSUME)}


def test_flow_through_the_stages_by_hand() -> None:
    f = cost.flow(DEPLOYMENT, MEASURED, 1_000, ASSUME)
    # 2 shards x 1 partition: 500 records a second each, one invocation a second each.
    assert (f.shards, f.parse_epi, f.parse_inv) == (2, 500, 2)
    # 500 x 1 KB into 240 KB bodies: 3 messages per parse invocation.
    assert f.parsed_msgs == 6
    # 6 messages/s for 5 pollers with a 1 s window: 5 invocations (not 6/10 = 0.6).
    assert f.score_inv == 5
    # 166.7 events per message x 2 KB = 333 KB: two scored messages per parsed one.
    assert f.scored_msgs == 12
    # 12 messages/s, 2 pollers, a 10 s window: full batches of 10, 1.2 invocations/s.
    assert f.load_inv == pytest.approx(1.2)


def test_each_line_by_hand() -> None:
    lines = by_item()
    assert lines["Lambda requests"] == pytest.approx(2 + 5 + 1.2)
    # parse 2/s x (500 x 0.1 ms + 1 call x 10 ms); score 5/s x (200 x 0.1 ms + (2 gets + 200 puts + 1 send) x 10 ms);
    # load 1.2/s x (833.3 x 0.1 ms + 5 statements x 0.3 s + 10 ms); all at 1 GB.
    assert lines["Lambda GB-s"] == pytest.approx(2 * 0.06 + 5 * 2.05 + 1.2 * (1000 / 1.2 * 1e-4 + 1.51))
    # parsed: 6 msgs of 170.7 KB = 3 chunks, sent and received, + a receive and a delete per score invocation;
    # scored: 12 msgs of 170.7 KB, likewise, for 1.2 load invocations.
    assert lines["SQS requests"] == pytest.approx(2 * 6 * 3 + 2 * 5 + 2 * 12 * 3 + 2 * 1.2)
    assert lines["DynamoDB state"] == pytest.approx(1_000 * (2.0 * 1 + 0.5 * 10))
    assert lines["Kinesis"] == pytest.approx(2 * 3_600 / 3_600 + 1_000 * 1)  # 2 shard-hours + a PUT unit a record
    assert lines["Firehose"] == pytest.approx(1_000 * 5_120 / 1e9)  # 1 KB records billed as 5 KB
    assert lines["S3 PUTs"] == pytest.approx(1 / 60 + 1.2)  # a Firehose flush a minute + one per load
    assert lines["S3 storage"] == pytest.approx(1_000 * (1_000 * 0.5 + 2_048) / 1e9)
    assert lines["Redshift Serverless"] == pytest.approx(4 / 3_600)  # 4 RPU, always warm, $1 an RPU-hour
    month = cost.HOURS_PER_MONTH * 3_600
    logs = (2 + 5 + 1.2) * 1_500 / 1e9
    assert lines["CloudWatch"] == pytest.approx((20 + 10 + 1) / month + logs)
    assert lines["X-Ray"] == pytest.approx((1 + 0.05 * 1) + (1 + 0.05 * 4) + (1 + 0.05 * 0.2))  # 1/s + 5% beyond
    assert lines["VPC endpoints"] == pytest.approx(2 * 3 / 3_600)


def test_a_sagemaker_endpoint_is_one_line_by_hand_and_absent_without_one() -> None:
    assert "SageMaker endpoint" not in by_item()
    with_endpoint = dataclasses.replace(DEPLOYMENT, sagemaker_memory_mb=2_048)
    lines = {line.item: line.usd_per_s for line in cost.lines(with_endpoint, MEASURED, PRICES, 1_000, ASSUME)}
    # 5 score invocations/s x 20 ms x 2 GB, + 1,000 events/s x 260 B processed; every price 1
    assert lines["SageMaker endpoint"] == pytest.approx(5 * 0.020 * 2 + 1_000 * 260 / 1e9)


@pytest.mark.synth
def test_only_staging_provisions_a_sagemaker_endpoint() -> None:
    memory = {env: cost.from_config(env).sagemaker_memory_mb for env in ("dev", "staging", "prod")}
    assert memory == {"dev": 0, "staging": 2_048, "prod": 0}


def test_per_million_and_capacity() -> None:
    line = cost.Line("x", 0.002, "")
    assert line.per_million(1_000) == pytest.approx(2.0)
    f = cost.flow(DEPLOYMENT, MEASURED, 10_000, ASSUME)
    assert f.shards == 10 and f.notes == ["needs 10 shards, 2 configured"]
    table = cost.table(DEPLOYMENT, MEASURED, PRICES, (100, 1_000, 10_000))
    assert "At 10,000/s, Kinesis" in table and table.count("\n| ") == len(by_item()) + 1  # the items and the total


def test_on_demand_kinesis_by_hand() -> None:
    on_demand = cost.Deployment(**{**DEPLOYMENT.__dict__, "kinesis_on_demand": True, "retention_hours": 48})
    lines = {x.item: x.usd_per_s for x in cost.lines(on_demand, MEASURED, PRICES, 1_000, ASSUME)}
    gb = 1_000 * 1_024 / 1e9  # records rounded up to 1 KB when written; read as they are, by 2 consumers
    stored = 1_000 * 1_000 * 24 * 3_600 / 1e9
    expected = 1 / 3_600 + gb + 1_000 * 1_000 / 1e9 * 2 + stored / (cost.HOURS_PER_MONTH * 3_600)
    assert lines["Kinesis"] == pytest.approx(expected)


def test_the_price_table_has_a_date_a_region_and_every_price_used() -> None:
    doc, prices = cost.load_prices()
    assert doc["region"] == "eu-west-1" and doc["currency"] == "USD"
    assert len(doc["date"]) == 10 and doc["date"][4] == "-"
    for key in cost.PRICES_USED:
        entry = doc["prices"][key]
        assert prices[key] > 0 and entry["unit"] and entry["source"]


def test_a_price_table_missing_a_price_is_refused(tmp_path: Path) -> None:
    doc, _ = cost.load_prices()
    del doc["prices"]["firehose_ingest_gb"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="firehose_ingest_gb"):
        cost.load_prices(path)


def test_the_docs_have_markers_for_the_generated_tables() -> None:
    for name, marker in cost.MARKERS.items():
        text = (cost.REPO / name).read_text()
        assert f"<!-- {marker}:begin -->" in text and f"<!-- {marker}:end -->" in text


def test_levers_change_only_what_they_name() -> None:
    steps = cost.levers(DEPLOYMENT, MEASURED, PRICES, 1_000)
    assert [label for label, _ in steps[1:]] == [label for label, *_ in cost.LEVERS]
    assert all(reason for *_, reason in cost.LEVERS)  # each lever says why prod does not take it
    today, state = steps[0][1], steps[1][1]
    # Only the DynamoDB line moves: 2 -> 1 write unit and 0.5 -> 1 read unit per event ($1 and $10 a unit).
    assert (today - state) / 1e6 * 1_000 == pytest.approx(1_000 * ((2 - 1) * 1 + (0.5 - 1) * 10))


def test_sqs_requests_never_below_the_calls_the_api_call_bench_counted() -> None:
    chatty = cost.Measured(**{**MEASURED.__dict__, "send_calls": 1.0})  # a SendMessageBatch per event
    lines = {x.item: x.usd_per_s for x in cost.lines(DEPLOYMENT, chatty, PRICES, 1_000, ASSUME)}
    assert lines["SQS requests"] == pytest.approx(1_000)
    assert by_item()["SQS requests"] == pytest.approx(120.4)  # send_calls 0: the chunk count stands
