"""The local alarm evaluator's CloudWatch semantics: statistics, metric math, M of N, missing data."""

from __future__ import annotations

import math

import pytest

from tools.local.alarms import AlarmDefinition, MetricInput, definitions, evaluate, evaluate_expression, statistic
from tools.local.pipeline import series_key

FAILURES = MetricInput("RiskScoring", "ProcessingFailures", {"stage": "load"}, "Sum", 60)
WAITING = MetricInput("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "q"}, "Maximum", 60)


def alarm(missing: str = "notBreaching", m: int = 3, n: int = 5, expression: str | None = None) -> AlarmDefinition:
    inputs = {"m": FAILURES} if expression is None else {"f": FAILURES, "waiting": WAITING}
    return AlarmDefinition("x", "critical", "r.md", 0.0, "GreaterThanThreshold", n, m, missing, expression, inputs)


def series(failing_minutes: list[int], waiting_minutes: list[int] = ()) -> dict:  # type: ignore[assignment,type-arg]
    out = {series_key("RiskScoring", "ProcessingFailures", {"stage": "load"}): {t: [2.0] for t in failing_minutes}}
    out[series_key("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "q"})] = {
        t: [5.0] for t in waiting_minutes
    }
    return out


def test_three_failing_minutes_of_five_fire_two_do_not() -> None:
    assert evaluate(alarm(), series([2, 4]), 10).fired_at is None
    assert evaluate(alarm(), series([2, 4, 6]), 10).fired_at == 6
    assert evaluate(alarm(), series([1, 6, 11]), 12).fired_at is None  # never 3 within 5 minutes


def test_missing_data_breaching_fires_on_silence_not_breaching_does_not() -> None:
    assert evaluate(alarm(missing="breaching", m=3, n=3), series([]), 4).fired_at == 1  # before the run: no data
    assert evaluate(alarm(missing="notBreaching"), series([]), 10).fired_at is None


def test_math_fill_and_if_treat_a_stalled_stage_as_breaching() -> None:
    stalled = alarm(expression="IF(FILL(waiting, 0) > 0, FILL(f, 1), 0)")
    assert evaluate(stalled, series([], waiting_minutes=[1, 2, 3]), 6).fired_at == 3
    assert evaluate(stalled, series([]), 6).fired_at is None


def test_expression_semantics() -> None:
    assert evaluate_expression("IF(whole > 0, 100 * part / whole, 0)", {"part": 1, "whole": 4}) == 25
    assert evaluate_expression("IF(whole > 0, 100 * part / whole, 0)", {"part": 1, "whole": 0}) == 0
    assert evaluate_expression("FILL(a, 0) + FILL(b, 0)", {"a": None, "b": 2}) == 2
    assert evaluate_expression("a + b", {"a": None, "b": 2}) is None  # no datapoint at this timestamp
    with pytest.raises(ValueError, match="not supported"):
        evaluate_expression("SEARCH(x)", {})


def test_statistics() -> None:
    values = [float(v) for v in range(1, 101)]
    assert statistic(values, "p90") == 90 and statistic(values, "p50") == 50 and statistic(values, "p99") == 99
    assert statistic([1.0, 3.0], "Average") == 2 and statistic([1.0, 3.0], "Sum") == 4
    assert math.isclose(statistic([5.0], "p99"), 5)


# ---------------------------------------------------------------- the synthesized definitions on written series


@pytest.fixture(scope="module")
def dev_alarms() -> dict[str, AlarmDefinition]:
    from stacks.config import load_environment  # noqa: PLC0415

    return {a.key: a for a in definitions(load_environment("dev"))}


def sqs_series(queue: str, age_s: dict[int, float], deleted: dict[int, float]) -> dict:  # type: ignore[type-arg]
    dims = {"QueueName": queue}
    return {
        series_key("AWS/SQS", "ApproximateAgeOfOldestMessage", dims): {t: [v] for t, v in age_s.items()},
        series_key("AWS/SQS", "NumberOfMessagesDeleted", dims): {t: [v] for t, v in deleted.items()},
    }


@pytest.mark.synth
def test_a_queue_old_while_messages_are_deleted_is_quiet_old_with_none_deleted_fires(
    dev_alarms: dict[str, AlarmDefinition],
) -> None:
    from stacks.config import load_environment  # noqa: PLC0415

    alarm = dev_alarms["scored-oldest-message"]
    queue = load_environment("dev").queue_name("scored")
    old = {t: alarm.threshold + 60.0 * t for t in range(1, 11)}  # a poison message ageing for ten minutes
    flowing = sqs_series(queue, old, {t: 25.0 for t in range(1, 11)})  # ...while 25 messages a minute leave
    assert evaluate(alarm, flowing, 10, local_only=False).fired_at is None
    stuck = sqs_series(queue, old, {t: 25.0 for t in range(1, 4)})  # deletes stop after minute 3
    assert evaluate(alarm, stuck, 10, local_only=False).fired_at == 6  # minutes 4, 5, 6 with none deleted
    young = sqs_series(queue, {t: alarm.threshold - 1 for t in range(1, 11)}, {})
    assert evaluate(alarm, young, 10, local_only=False).fired_at is None
    assert not evaluate(alarm, stuck, 10).evaluated  # no local source: reported as not evaluated, never OK


@pytest.mark.synth
def test_firehose_reading_without_delivering_fires_buffering_does_not(
    dev_alarms: dict[str, AlarmDefinition],
) -> None:
    from stacks.config import load_environment  # noqa: PLC0415

    alarm = dev_alarms["firehose-read-not-delivered"]
    dims = {"DeliveryStreamName": f"{load_environment('dev').prefix}-raw"}
    width = alarm.inputs["read"].period_s // 60
    minutes = 4 * width

    def firehose(delivered_share: float, from_minute: int) -> dict:  # type: ignore[type-arg]
        read = {t: [100.0] for t in range(1, minutes + 1)}
        delivered = {t: [100.0 * (delivered_share if t >= from_minute else 1.0)] for t in range(2, minutes + 1)}
        return {
            series_key("AWS/Firehose", "DataReadFromKinesisStream.Records", dims): read,
            series_key("AWS/Firehose", "DeliveryToS3.Records", dims): delivered,
        }

    # one buffer interval behind (nothing delivered in the first minute): buffering, quiet
    assert evaluate(alarm, firehose(1.0, 1), minutes, local_only=False).fired_at is None
    # delivery stops after the first period: the second and third periods deliver nothing
    assert evaluate(alarm, firehose(0.0, width + 1), minutes, local_only=False).fired_at == 3 * width
