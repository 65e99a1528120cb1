"""The deployed Python is pinned once (cdk.json ``lambda_runtime``) and CI tests the Lambda code on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacks.config import REPO_ROOT, ConfigError, lambda_python_version, lambda_runtime
from tools import runtime_venv


def _cdk_json(tmp_path: Path, value: object) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"lambda_runtime": value}}))
    return path


def test_runtime_is_read_from_cdk_json(tmp_path: Path) -> None:
    assert lambda_runtime(_cdk_json(tmp_path, "python3.12")) == "python3.12"
    assert lambda_python_version(_cdk_json(tmp_path, "python3.12")) == "3.12"
    assert re.fullmatch(r"3\.\d+", lambda_python_version())


@pytest.mark.parametrize("value", [None, "3.13", "python3", "nodejs22.x", "python3.13 "])
def test_a_runtime_that_is_not_a_python_one_is_refused(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match="lambda_runtime"):
        lambda_runtime(_cdk_json(tmp_path, value))


def test_runtime_venv_reuses_the_dev_pins_without_the_cdk_and_the_linters() -> None:
    dev = (REPO_ROOT / "requirements-dev.txt").read_text()
    pins = runtime_venv.dev_pins(dev)
    names = {runtime_venv._canonical(p.split("==")[0]) for p in pins}
    assert {"pytest", "moto", "hypothesis", "sqlglot", "numpy"} <= names
    assert not names & runtime_venv.EXCLUDED
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", p) for p in pins)
    assert all(p in dev for p in pins)  # the very same pins, not a second copy


def test_filter_drops_nested_files_comments_and_excluded_names() -> None:
    text = "# header\n-r requirements.txt\nruff==1.0\nMyPy==2.0\ncfn_lint==3\npytest==9.2.0  # tests\n\nmoto==5.2.5\n"
    assert runtime_venv.dev_pins(text) == ["pytest==9.2.0", "moto==5.2.5"]


def _fake_python(path: Path, minor: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {minor}\n")
    path.chmod(0o755)
    return path


def test_interpreter_is_found_on_path_or_under_pyenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pyenv"
    _fake_python(root / "versions/3.99.1/bin/python3.99", "3.99")
    newest = _fake_python(root / "versions/3.99.10/bin/python3.99", "3.99")
    shim = _fake_python(tmp_path / "bin/python3.99", "3.98")  # a shim that answers for another version
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.setenv("PATH", str(shim.parent))
    assert runtime_venv.find_interpreter("3.99") == newest
    on_path = _fake_python(tmp_path / "bin/python3.99", "3.99")
    assert runtime_venv.find_interpreter("3.99") == on_path


def test_a_missing_interpreter_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(runtime_venv.MissingInterpreter) as raised:
        runtime_venv.find_interpreter("3.99")
    message = str(raised.value)
    assert "\n" not in message and "Python 3.99" in message and "lambda_runtime" in message


def test_ci_and_readme_run_the_tests_on_the_runtime_python() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ci.index("make test-runtime") > ci.index("make test ")
    assert "make test-runtime" in (REPO_ROOT / "README.md").read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "-m tools.runtime_venv $(RUNTIME_VENV)" in makefile
    assert ".venv-lambda/" in (REPO_ROOT / ".gitignore").read_text().splitlines()
