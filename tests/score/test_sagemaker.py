"""The SageMaker scorer against botocore's Stubber: one InvokeEndpoint per batch, parsing, fallback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import orjson
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from risk.score.scorers import LogisticScorer, SageMakerScorer
from risk.score.scorers.logistic import LogisticModel
from risk.score.scorers.sagemaker import FALLBACK_REASON, EndpointResponseError, parse_predictions
from risk.score.vector import FEATURE_NAMES, MISSING_GEO, vectorize
from tests.score.conftest import event
from tests.score.test_scorers import QUIET

ENDPOINT = "risk-lr-endpoint"


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def body(doc: Any) -> StreamingBody:
    raw = json.dumps(doc).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_one_call_per_batch_with_every_feature_vector(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    events = [event(amount=10.0), event(amount=None, geo=None), event(amount=2_000.0)]
    feats = [QUIET, QUIET, replace(QUIET, high_amount_flag=True)]
    # The request body: feature names and one vector per event, in event order (the Stubber checks it).
    expected_body = orjson.dumps(
        {"features": list(FEATURE_NAMES), "instances": [vectorize(e, f) for e, f in zip(events, feats, strict=True)]}
    )
    stub.add_response(
        "invoke_endpoint",
        {
            "Body": body({"predictions": [0.1, {"score": 0.5}, 0.95], "model_version": "xgb-7"}),
            "ContentType": "application/json",
        },
        {
            "EndpointName": ENDPOINT,
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": expected_body,
        },
    )
    scorer = SageMakerScorer(client, ENDPOINT)
    scores = scorer.score_batch(events, feats)
    assert [s.score for s in scores] == [0.1, 0.5, 0.95]
    assert [s.risk_band for s in scores] == ["low", "medium", "high"]
    assert {s.model_version for s in scores} == {f"sagemaker:{ENDPOINT}:xgb-7"}
    assert scores[1].reasons == ("MISSING_AMOUNT", MISSING_GEO)
    assert scores[2].reasons == ("HIGH_AMOUNT",)


def test_a_plain_list_answer_is_accepted(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response("invoke_endpoint", {"Body": body([0.25])})
    [s] = SageMakerScorer(client, ENDPOINT).score_batch([event()], [QUIET])
    assert (s.score, s.model_version) == (0.25, f"sagemaker:{ENDPOINT}")


@pytest.mark.parametrize("answer", [[0.1], [0.1, 1.5], {"predictions": "no"}, [True, 0.2], "not json"])
def test_malformed_answers_fall_back_to_the_local_model(runtime: tuple[Any, Stubber], answer: Any) -> None:
    client, stub = runtime
    raw = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(raw), len(raw))})
    local = LogisticScorer(LogisticModel.load("lr-v1.json"))
    scores = SageMakerScorer(client, ENDPOINT, fallback=local).score_batch([event(), event()], [QUIET, QUIET])
    expected = local.score_batch([event(), event()], [QUIET, QUIET])
    assert [s.score for s in scores] == [s.score for s in expected]
    assert all(s.model_version == "lr-v1" and s.reasons[-1] == FALLBACK_REASON for s in scores)


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
    with pytest.raises(EndpointResponseError, match="expected 2"):
        parse_predictions(b"[0.5]", 2)
