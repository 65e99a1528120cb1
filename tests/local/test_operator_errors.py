"""Every common operator mistake ends in one line on stderr that says what to do, and a non-zero exit.

One test per mistake, through the real entry points (``tools.riskctl.main``, ``tools.local.demo.main``)
and, for the plain ``python -m`` path, a subprocess; AWS is moto (in process) or nothing at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stacks.config import REPO_ROOT
from tools.local import demo
from tools.local.provision import LocalResources
from tools.riskctl import main as riskctl


def assert_one_line(err: str, *expected: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _usage_error(capsys: pytest.CaptureFixture[str], entry: Callable[[list[str]], int], argv: list[str]) -> str:
    """A mistake argparse catches: exit 2 before any work, one line."""
    with pytest.raises(SystemExit) as stopped:
        entry(argv)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    return captured.err


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials and no region anywhere boto3 looks (environment, files, instance metadata)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_demo_missing_events_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _usage_error(capsys, demo.main, ["--events", str(tmp_path / "nope.jsonl")])
    assert_one_line(err, "make demo", "--events", "no such file", "nope.jsonl")


def test_demo_zero_shards(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line(_usage_error(capsys, demo.main, ["--shards", "0"]), "--shards", "must be at least 1, got 0")


def test_demo_negative_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line(_usage_error(capsys, demo.main, ["--count", "-3"]), "--count", "must be at least 1, got -3")


def test_demo_unreachable_dsn_fails_before_any_work(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    code = demo.main(["--dsn", "postgresql://postgres:secret@127.0.0.1:1/risk", "--summary-json", str(summary)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing generated, provisioned or sent
    line = assert_one_line(captured.err, "--dsn: cannot connect to 127.0.0.1:1/risk", "riskctl warehouse")
    assert "secret" not in line
    assert not summary.exists()


def test_demo_malformed_dsn(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--dsn", "mysql://nowhere"]) == 2
    assert_one_line(capsys.readouterr().err, "--dsn: not a postgresql://")


def test_demo_output_in_a_folder_that_cannot_be_created(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    err = _usage_error(capsys, demo.main, ["--summary-json", str(tmp_path / "file" / "out" / "summary.json")])
    assert_one_line(err, "--summary-json", "cannot create the folder")


def test_demo_output_that_is_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_one_line(_usage_error(capsys, demo.main, ["--export", str(tmp_path)]), "--export", "is a directory")


def test_output_folders_are_created_while_parsing(tmp_path: Path) -> None:
    args = demo.parse_args(["--summary-json", str(tmp_path / "out" / "deeper" / "summary.json")])
    assert (tmp_path / "out" / "deeper").is_dir()
    assert args.summary_json == tmp_path / "out" / "deeper" / "summary.json"


def test_score_unknown_env(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(capsys, riskctl, ["score", "{}", "--env", "qa"])
    assert_one_line(err, "riskctl", "--env", "invalid choice: 'qa'", "dev")


def test_score_missing_history_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _usage_error(capsys, riskctl, ["score", "{}", "--history", str(tmp_path / "h.jsonl")])
    assert_one_line(err, "--history", "no such file")


def test_produce_negative_count(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(capsys, riskctl, ["produce", "--stream", "s", "--count", "-3"])
    assert_one_line(err, "riskctl", "--count", "must be at least 1, got -3")


def test_produce_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _usage_error(capsys, riskctl, ["produce", "--stream", "s", "--file", str(tmp_path / "e.jsonl")])
    assert_one_line(err, "--file", "no such file")


def test_no_aws_credentials(no_aws_config: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert riskctl(["--region", "eu-west-1", "produce", "--stream", "s", "--count", "1"]) == 1
    assert_one_line(capsys.readouterr().err, "no AWS credentials", "AWS_PROFILE")


def test_no_aws_region(no_aws_config: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert riskctl(["redrive", "--dlq", "q"]) == 1
    assert_one_line(capsys.readouterr().err, "no AWS region", "--region")


def test_refused_endpoint(aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the message, not botocore's back-off, is under test
    argv = ["--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:1", "produce", "--stream", "s", "--count", "1"]
    assert riskctl(argv) == 1
    err = capsys.readouterr().err
    assert_one_line(err, "Could not connect to the endpoint URL", "http://127.0.0.1:1", "--endpoint-url")


def test_nonexistent_queue(resources: LocalResources, capsys: pytest.CaptureFixture[str]) -> None:
    assert riskctl(["--region", resources.region, "redrive", "--dlq", "risk-scoring-dev-nope-dlq", "--dry-run"]) == 1
    assert_one_line(capsys.readouterr().err, "no such SQS queue", "GetQueueUrl", "--region")


def test_nonexistent_bucket(resources: LocalResources, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--region", resources.region, "replay", "--bucket", "no-such-archive", "--stream", resources.stream_name]
    assert riskctl([*argv, "--from", "2026-11-24T10:00Z", "--to", "2026-11-24T11:00Z", "--dry-run"]) == 1
    assert_one_line(capsys.readouterr().err, "no such S3 bucket no-such-archive", "check the name")


def test_nonexistent_stream(resources: LocalResources, capsys: pytest.CaptureFixture[str]) -> None:
    assert riskctl(["--region", resources.region, "produce", "--stream", "nope", "--count", "2"]) == 1
    assert_one_line(capsys.readouterr().err, "no such resource", "PutRecords")


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only known mistakes are turned into a message: anything else must stay loud."""

    def broken(*_: object) -> dict[str, object]:
        raise ZeroDivisionError

    monkeypatch.setattr("tools.riskctl.score_event", broken)
    with pytest.raises(ZeroDivisionError):
        riskctl(["score", "{}"])


def _bare_env() -> dict[str, str]:
    """The environment of an operator who set nothing up: no PYTHONPATH."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_python_m_riskctl_works_from_the_repository_root_without_pythonpath() -> None:
    event = '{"event_id": "e1", "user_id": "u1", "event_type": "login", "occurred_at": "2026-11-24T10:00:00Z"}'
    done = subprocess.run(
        [sys.executable, "-m", "tools.riskctl", "score", event, "--scorer", "rules"],
        cwd=REPO_ROOT,
        env=_bare_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"risk_band"' in done.stdout


def test_python_m_riskctl_mistake_is_one_line_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.riskctl", "produce", "--stream", "s", "--count", "-3"],
        cwd=REPO_ROOT,
        env=_bare_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert_one_line(done.stderr, "riskctl produce: error: argument --count: must be at least 1, got -3", "--help")


def test_replay_time_that_is_not_iso(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", "--bucket", "b", "--stream", "s", "--from", "yesterday", "--to", "2026-11-24T11:00Z"]
    assert_one_line(_usage_error(capsys, riskctl, argv), "--from", "'yesterday' is not an ISO time")


def test_replay_window_that_ends_before_it_starts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", "--bucket", "b", "--stream", "s", "--from", "2026-11-24T11:00Z", "--to", "2026-11-24T10:00Z"]
    assert_one_line(_usage_error(capsys, riskctl, argv), "--to must be after --from")


def test_demo_events_that_is_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _usage_error(capsys, demo.main, ["--events", str(tmp_path)])
    assert_one_line(err, "--events", "is a directory", 'make demo ARGS="--help"')
