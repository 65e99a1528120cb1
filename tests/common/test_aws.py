"""Every AWS client of the functions has bounded timeouts and one retry mode, and fits every function's timeout."""

from __future__ import annotations

import ast
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from risk.common import aws, settings
from risk.parse.service import ParseDependencies
from risk.score import handler as score_handler
from stacks.config import (
    ENVIRONMENT_NAMES,
    REPO_ROOT,
    ConfigError,
    load_environment,
    parse_environment,
    read_environments,
)

REGION = "eu-west-1"


def _settings_of(client: Any) -> tuple[float, float, dict[str, Any]]:
    config = client.meta.config
    return config.connect_timeout, config.read_timeout, config.retries


EXPECTED = (aws.CONNECT_TIMEOUT_S, aws.READ_TIMEOUT_S, {"mode": "standard", "total_max_attempts": aws.MAX_ATTEMPTS})


@pytest.mark.parametrize("service", ["s3", "sqs", "dynamodb", "secretsmanager", "sagemaker-runtime"])
def test_each_client_has_the_timeouts_and_the_retry_mode(service: str) -> None:
    assert _settings_of(aws.client(service, region_name=REGION)) == EXPECTED
    session = boto3.session.Session(region_name=REGION)
    from_session = aws.client(service, session)
    assert _settings_of(from_session) == EXPECTED
    assert from_session.meta.region_name == REGION


def test_a_caller_may_shorten_a_timeout_but_not_lengthen_it() -> None:
    short = aws.client("sqs", region_name=REGION, read_timeout=1.0, connect_timeout=0.5)
    assert _settings_of(short)[:2] == (0.5, 1.0)
    with pytest.raises(ValueError, match="budget"):
        aws.client("sqs", region_name=REGION, read_timeout=aws.READ_TIMEOUT_S + 1)


def test_worst_case_counts_every_attempt_and_the_longest_backoffs() -> None:
    assert aws.worst_case_call_s(1.0, 2.0, 1) == 3.0
    assert aws.worst_case_call_s(1.0, 2.0, 3) == 3 * 3.0 + 1 + 2
    assert aws.worst_case_call_s() == aws.WORST_CASE_CALL_S


def test_one_call_fits_every_configured_function_timeout() -> None:
    for name in ENVIRONMENT_NAMES:
        cfg = load_environment(name)
        for stage in ("parse", "score", "load"):
            assert cfg.function(stage).timeout_s > aws.WORST_CASE_CALL_S, (name, stage)


def test_config_refuses_a_function_timeout_a_call_could_outlast() -> None:
    raw = read_environments()["dev"]
    short = {**raw, "functions": {**raw["functions"], "score": {**raw["functions"]["score"], "timeout_s": 30}}}
    with pytest.raises(ConfigError, match=r"environments\.dev\.functions\.score\.timeout_s: 30 s"):
        parse_environment("dev", short)


def test_no_client_is_built_outside_the_module() -> None:
    """Every ``*.client(...)`` call in the Lambda code goes through ``risk.common.aws``."""
    offenders = []
    for path in sorted((REPO_ROOT / "lambdas" / "risk").rglob("*.py")):
        if path.name == "aws.py" and path.parent.name == "common":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "aws")
            ):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not offenders


def test_the_functions_clients_are_built_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name, value in {
        settings.ARCHIVE_BUCKET: "bucket",
        settings.PARSED_QUEUE_URL: "https://sqs/parsed",
        settings.SCORED_QUEUE_URL: "https://sqs/scored",
        settings.STATE_TABLE: "state",
        settings.SCORER: "logistic",
        settings.MODEL_FILE: "lr-v1.json",
    }.items():
        monkeypatch.setenv(name, value)
    parse = ParseDependencies.from_environment()
    score_handler.dependencies.cache_clear()
    try:
        score = score_handler.dependencies()
        clients = [parse.s3, parse.sqs, score.sqs, score.store._client]  # type: ignore[attr-defined]
    finally:
        score_handler.dependencies.cache_clear()
    assert [_settings_of(c) for c in clients] == [EXPECTED] * len(clients)


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[float]]]:
    """An HTTP endpoint that accepts connections and never answers; the accept times."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[float] = []
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(time.monotonic())
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for conn in held:
        conn.close()


def test_a_hung_endpoint_costs_bounded_time_and_exactly_the_configured_attempts(
    silent_endpoint: tuple[str, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, accepted = silent_endpoint
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", url)
    sqs = aws.client("sqs", region_name=REGION, read_timeout=0.2, connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        sqs.list_queues()
    assert time.monotonic() - started < aws.worst_case_call_s(0.2, 0.2) + 1.0
    assert len(accepted) == aws.MAX_ATTEMPTS


def test_readme_states_the_budget() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    budget = (
        f"{aws.CONNECT_TIMEOUT_S:g} s to connect, {aws.READ_TIMEOUT_S:g} s to read, botocore's `standard` retry mode "
        f"with {aws.MAX_ATTEMPTS} attempts in all, so one call lasts at most {aws.WORST_CASE_CALL_S:g} s"
    )
    assert budget in " ".join(readme.split())
