"""The operator's tools as installed and run: the riskctl console script, ``riskctl warehouse``,
``riskctl redrive`` against a moto server, and the embedded PostgreSQL cleaning up after itself."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stacks.config import REPO_ROOT
from tools.local import demo
from tools.pg.local import LocalPostgres
from tools.riskctl import main as riskctl


def test_pyproject_declares_the_riskctl_console_script() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["riskctl"] == "tools.riskctl:main"


@pytest.mark.slow
def test_riskctl_console_script_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    """What `make install` does (pip install --no-deps -e .), into a throwaway venv, not the shared one."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    site = Path(
        subprocess.run(
            [str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies (and a setuptools that builds editable wheels) come from this interpreter's site-packages.
    (site / "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [str(venv / "bin/python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "uninstall", "-q", "-y", "setuptools"], check=True, capture_output=True, timeout=300)
    installed = subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(REPO_ROOT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    event = '{"event_id": "e1", "user_id": "u1", "event_type": "login", "occurred_at": "2026-11-24T10:00:00Z"}'
    done = subprocess.run(
        [str(venv / "bin/riskctl"), "score", event, "--scorer", "rules"],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"risk_band"' in done.stdout


@pytest.fixture
def warehouse_process() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`riskctl warehouse` running; its DSN and the lines it printed up to waiting."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.riskctl", "warehouse"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        dsn, printed = "", ""
        for line in process.stdout:
            printed += line
            if line.startswith("DSN: "):
                dsn = line.removeprefix("DSN: ").strip()
            if line.startswith("Ctrl-C"):
                break
        assert dsn, process.stderr.read() if process.stderr else ""
        yield process, dsn, printed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_riskctl_warehouse_prints_a_dsn_make_demo_accepts_and_stops_cleanly_on_ctrl_c(
    warehouse_process: tuple[subprocess.Popen[str], str, str],
) -> None:
    process, dsn, printed = warehouse_process
    out = io.StringIO()
    code = demo.main(["--count", "40", "--quiet", "--dsn", dsn], out=out)
    assert code == 0, out.getvalue()
    assert "warehouse: given DSN (0 rows before)" in out.getvalue()

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "warehouse stopped" in stdout
    data = Path(printed.split("removes its data (")[1].split(")")[0])
    assert data.name.startswith("risk-pg-") and not data.exists()
    assert "Traceback" not in stderr


def test_redrive_falls_back_when_the_endpoint_has_no_move_task(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A moto server answers StartMessageMoveTask with HTTP 500: riskctl re-sends instead of crashing."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        sqs = boto3.client("sqs", region_name="eu-west-1", endpoint_url=endpoint)
        dlq = sqs.create_queue(QueueName="risk-scoring-dev-scored-dlq")["QueueUrl"]
        source = sqs.create_queue(QueueName="risk-scoring-dev-scored")["QueueUrl"]
        for i in range(12):
            sqs.send_message(QueueUrl=dlq, MessageBody=f"m{i}")

        argv = ["--region", "eu-west-1", "--endpoint-url", endpoint, "redrive", "--dlq", dlq, "--to", source]
        assert riskctl(argv) == 0
        assert "moved 12 messages" in capsys.readouterr().out
        depth = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "12"
    finally:
        server.stop()


def test_the_embedded_server_removes_its_data_directory_on_close() -> None:
    local = LocalPostgres.start()
    directory = Path(local.server.directory)  # type: ignore[attr-defined]
    try:
        assert directory.is_dir() and directory.name.startswith("risk-pg-")
        assert any(directory.iterdir())
    finally:
        local.close()
    assert not directory.exists()


def test_a_given_workdir_is_left_to_its_owner() -> None:
    # Not pytest's tmp_path: the server runs as another user and cannot enter its 0700 parents.
    workdir = Path(tempfile.mkdtemp(prefix="risk-pg-test-"))
    try:
        with LocalPostgres.start(workdir):
            pass
        assert workdir.is_dir() and any(workdir.iterdir())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_resend_from_a_fifo_dlq_keeps_each_message_in_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """parsed-dlq.fifo -> parsed.fifo: the group (a bucket of users) and its order come along."""
    from moto import mock_aws  # noqa: PLC0415

    from tools.cli.redrive import resend  # noqa: PLC0415

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
        dlq = sqs.create_queue(QueueName="risk-scoring-dev-parsed-dlq.fifo", Attributes=fifo)["QueueUrl"]
        target = sqs.create_queue(QueueName="risk-scoring-dev-parsed.fifo", Attributes=fifo)["QueueUrl"]
        for i in range(6):
            sqs.send_message(
                QueueUrl=dlq, MessageBody=f"m{i}", MessageGroupId=f"users-{i % 2:05d}", MessageDeduplicationId=f"d{i}"
            )
        assert resend(sqs, dlq, target) == 6
        got = sqs.receive_message(QueueUrl=target, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])
        by_group: dict[str, list[str]] = {}
        for m in got["Messages"]:
            by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
        assert by_group == {"users-00000": ["m0", "m2", "m4"], "users-00001": ["m1", "m3", "m5"]}
