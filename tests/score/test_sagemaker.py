"""The SageMaker scorer against botocore's Stubber: one CSV InvokeEndpoint per batch, parsing, fallback."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from risk.common import aws
from risk.score.scorers import LogisticScorer, SageMakerScorer, load_scorer
from risk.score.scorers import sagemaker as sm
from risk.score.scorers.logistic import LogisticModel
from risk.score.scorers.sagemaker import FALLBACK_REASON, EndpointResponseError, csv_rows, parse_predictions
from risk.score.vector import FEATURE_NAMES, MISSING_GEO, vectorize
from tests.score.conftest import event
from tests.score.test_scorers import QUIET

ENDPOINT = "risk-xgb-v1"


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def body(text: str) -> StreamingBody:
    raw = text.encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_one_csv_call_per_batch_as_built_in_xgboost_reads_it(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    events = [event(amount=10.0), event(amount=None, geo=None), event(amount=2_000.0)]
    feats = [QUIET, QUIET, replace(QUIET, high_amount_flag=True)]
    rows = [vectorize(e, f) for e, f in zip(events, feats, strict=True)]
    expected_body = "\n".join(",".join(repr(v) for v in row) for row in rows).encode()
    assert all(len(line.split(b",")) == len(FEATURE_NAMES) for line in expected_body.split(b"\n"))
    stub.add_response(
        "invoke_endpoint",
        {"Body": body("0.1\n0.5\n0.95\n"), "ContentType": "text/csv", "InvokedProductionVariant": "xgb-v1"},
        {"EndpointName": ENDPOINT, "ContentType": "text/csv", "Accept": "text/csv", "Body": expected_body},
    )
    scorer = SageMakerScorer(client, ENDPOINT)
    scores = scorer.score_batch(events, feats)
    assert [s.score for s in scores] == [0.1, 0.5, 0.95]
    assert [s.risk_band for s in scores] == ["low", "medium", "high"]
    assert {s.model_version for s in scores} == {f"sagemaker:{ENDPOINT}:xgb-v1"}
    assert scores[1].reasons == ("MISSING_AMOUNT", MISSING_GEO)
    assert scores[2].reasons == ("HIGH_AMOUNT",)
    assert scorer.take_fallbacks() == 0


def test_a_comma_separated_answer_is_accepted_and_nan_is_an_empty_field(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response("invoke_endpoint", {"Body": body("0.25,0.75")})
    scores = SageMakerScorer(client, ENDPOINT).score_batch([event(), event()], [QUIET, QUIET])
    assert [(s.score, s.model_version) for s in scores] == [
        (0.25, f"sagemaker:{ENDPOINT}"),
        (0.75, f"sagemaker:{ENDPOINT}"),
    ]
    assert csv_rows([[1.5, math.nan, 0.0]]) == b"1.5,,0.0"


@pytest.mark.parametrize("answer", ["0.1", "0.1\n1.5", "0.1\nabc", "", "\xff"])
def test_malformed_answers_fall_back_to_the_local_model_and_are_counted(
    runtime: tuple[Any, Stubber], answer: str
) -> None:
    client, stub = runtime
    raw = answer.encode("latin-1")
    stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(raw), len(raw))})
    local = LogisticScorer(LogisticModel.load("lr-v1.json"))
    scorer = SageMakerScorer(client, ENDPOINT, fallback=local)
    scores = scorer.score_batch([event(), event()], [QUIET, QUIET])
    expected = local.score_batch([event(), event()], [QUIET, QUIET])
    assert [s.score for s in scores] == [s.score for s in expected]
    assert all(s.model_version == "lr-v1" and s.reasons[-1] == FALLBACK_REASON for s in scores)
    assert scorer.take_fallbacks() == 2 and scorer.take_fallbacks() == 0


def test_endpoint_errors_fall_back_or_propagate(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_client_error("invoke_endpoint", "ModelError", "the model crashed", 424)
    local = LogisticScorer(LogisticModel.load("lr-v1.json"))
    [s] = SageMakerScorer(client, ENDPOINT, fallback=local).score_batch([event()], [QUIET])
    assert FALLBACK_REASON in s.reasons
    stub.add_client_error("invoke_endpoint", "ThrottlingException", "slow down", 400)
    with pytest.raises(client.exceptions.ClientError):
        SageMakerScorer(client, ENDPOINT).score_batch([event()], [QUIET])


def test_an_empty_batch_makes_no_call(runtime: tuple[Any, Stubber]) -> None:
    client, _ = runtime
    assert SageMakerScorer(client, ENDPOINT).score_batch([], []) == []


def test_parse_errors_name_the_problem() -> None:
    with pytest.raises(EndpointResponseError, match="expected 2 predictions, got 1"):
        parse_predictions(b"0.5", 2)
    with pytest.raises(EndpointResponseError, match="not a probability"):
        parse_predictions(b"2.0", 1)


def test_the_endpoint_client_gives_up_well_before_the_function_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    scorer = load_scorer({"SCORER": "sagemaker", "SAGEMAKER_ENDPOINT": ENDPOINT, "MODEL_FILE": "xgb-v1.json"})
    assert isinstance(scorer, SageMakerScorer)
    config = scorer._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (sm.CONNECT_TIMEOUT_S, sm.READ_TIMEOUT_S)
    worst = aws.worst_case_call_s(sm.CONNECT_TIMEOUT_S, sm.READ_TIMEOUT_S)
    assert worst == 3 * (1.0 + 4.0) + 1.0 + 2.0 and worst < aws.WORST_CASE_CALL_S / 2
    assert scorer.fallback is not None and scorer.fallback.model_version == "xgb-v1"  # the bundled twin
