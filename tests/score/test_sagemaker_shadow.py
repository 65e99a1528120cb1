"""The provisioned SageMaker endpoint as a shadow (staging): its settings, its scores on the scored event,
and an endpoint failure that drops only its own scores. The endpoint is botocore's Stubber (validated
request shapes), as in tests/score/test_sagemaker.py."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from risk.common import settings
from risk.score.model import ScoredEvent, ShadowScore
from risk.score.scorers import load_scorer
from risk.score.scorers.sagemaker import CONTENT_TYPE, csv_rows
from risk.score.scorers.shadow import attach_shadows, load_shadows, parse_shadows, with_shadows
from risk.score.state import replay
from risk.score.vector import vectorize
from stacks.config import load_environment, runtime_environment
from tests.score.conftest import LONDON, PARIS, event

ENDPOINT = "risk-scoring-staging-xgb-v2"


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "sagemaker-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _body(text: str) -> StreamingBody:
    return StreamingBody(io.BytesIO(text.encode()), len(text.encode()))


def _scored() -> list[ScoredEvent | None]:
    events = [event(0, geo=PARIS), event(600, geo=LONDON, amount=900.0)]
    feats, _ = replay(events)
    champion = load_scorer({"SCORER": "xgboost", "MODEL_FILE": "xgb-v1.json"})
    return [ScoredEvent(e, f, s) for e, f, s in zip(events, feats, champion.score_batch(events, feats), strict=True)]


def test_shadow_settings_take_a_sagemaker_endpoint_and_refuse_a_bad_name() -> None:
    assert parse_shadows(f"logistic:lr-v1.json,sagemaker:{ENDPOINT}") == [
        ("logistic", "lr-v1.json"),
        ("sagemaker", ENDPOINT),
    ]
    for bad in ("sagemaker:x.json", "sagemaker:-lead", "sagemaker:" + "a" * 64):
        with pytest.raises(ValueError, match="is not kind:model_file"):
            parse_shadows(bad)


def test_stagings_score_function_runs_the_provisioned_endpoint_as_a_shadow_dev_and_prod_do_not() -> None:
    resources = {settings.SCORED_QUEUE_URL: "-", settings.STATE_TABLE: "-", settings.ARCHIVE_BUCKET: "-"}
    shadows = {
        name: parse_shadows(runtime_environment(load_environment(name), "score", resources)[settings.SHADOW_SCORERS])
        for name in ("dev", "staging", "prod")
    }
    assert ("sagemaker", ENDPOINT) in shadows["staging"]
    assert [k for k, _ in shadows["dev"] + shadows["prod"] if k == "sagemaker"] == []
    staging = load_environment("staging").scoring
    assert staging.invoked_endpoints == (ENDPOINT,) and staging.scorer != "sagemaker"


def test_the_endpoints_scores_ride_with_the_event_beside_the_bundled_shadow(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    scored = _scored()
    rows = [vectorize(s.event, s.features) for s in scored if s is not None]
    stub.add_response(
        "invoke_endpoint",
        {"Body": _body("0.125\n0.875\n"), "ContentType": CONTENT_TYPE, "InvokedProductionVariant": "AllTraffic"},
        {"EndpointName": ENDPOINT, "ContentType": CONTENT_TYPE, "Accept": CONTENT_TYPE, "Body": csv_rows(rows)},
    )
    shadows = load_shadows({settings.SHADOW_SCORERS: f"logistic:lr-v1.json,sagemaker:{ENDPOINT}"}, client)
    out = with_shadows(shadows, scored)
    endpoint_scores = [s.shadows[1] for s in out if s is not None]
    assert endpoint_scores == [
        ShadowScore(f"sagemaker:{ENDPOINT}:AllTraffic", 0.125, "low"),
        ShadowScore(f"sagemaker:{ENDPOINT}:AllTraffic", 0.875, "high"),
    ]
    assert all(s is not None and s.shadows[0].model_version == "lr-v1" for s in out)
    assert all(s is not None and s.score.model_version == "xgb-v1" for s in out)  # the champion still decides


def test_a_failing_endpoint_drops_only_its_own_shadow_scores(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_client_error("invoke_endpoint", "ModelError", "the model container failed", http_status_code=424)
    shadows = load_shadows({settings.SHADOW_SCORERS: f"sagemaker:{ENDPOINT},logistic:lr-v1.json"}, client)
    scored = _scored()
    out, failed = attach_shadows(shadows, [None, *scored])
    assert out[0] is None
    assert all(s is not None and [sh.model_version for sh in s.shadows] == ["lr-v1"] for s in out[1:])
    assert failed == len(scored)  # counted (ShadowFailures) per event the endpoint did not score
