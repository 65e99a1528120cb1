"""Local bundling: the code asset's contents and the cached dependencies layer (no pip run here)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks import bundling
from stacks.bundling import RUNTIME, CodeBundler, LayerBundler, python_version, requirements_hash
from stacks.config import lambda_python_version, lambda_runtime


def test_functions_and_layer_target_the_runtime_pinned_in_cdk_json() -> None:
    assert RUNTIME.name == lambda_runtime()
    assert python_version() == lambda_python_version()


def test_layer_is_built_by_pip_for_the_runtime_python_on_arm64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        Path(command[command.index("--target") + 1]).mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bundling.subprocess, "run", fake_pip)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0\n")
    LayerBundler(requirements, cache_root=tmp_path / "build").build()
    [command] = commands
    assert command[command.index("--python-version") + 1] == lambda_python_version()
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms and all(p.endswith("_aarch64") for p in platforms)


def test_requirements_hash_follows_the_file_and_python(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0\n")
    first = requirements_hash(requirements)
    assert requirements_hash(requirements, "3.12") != first
    requirements.write_text("orjson==3.13.1\n")
    assert requirements_hash(requirements) != first


def test_layer_is_served_from_the_cache_without_running_pip(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("definitely-not-installable==0.0.0\n")  # pip would fail on this
    bundler = LayerBundler(requirements, cache_root=tmp_path / "build")
    cached = bundler.cache_dir / "python" / "pkg"
    cached.mkdir(parents=True)
    (cached / "__init__.py").write_text("VALUE = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    assert bundler.try_bundle(str(out)) is True
    assert (out / "python" / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"


def test_code_asset_holds_the_package_without_build_litter(tmp_path: Path) -> None:
    out = tmp_path / "code"
    out.mkdir()
    assert CodeBundler(include_schema=False).try_bundle(str(out)) is True
    assert (out / "risk" / "migrate" / "handler.py").is_file()
    assert not (out / "requirements.txt").exists()
    assert not list(out.rglob("__pycache__"))
    assert not (out / "redshift_schema").exists()


def test_migration_asset_also_holds_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "code"
    out.mkdir()
    CodeBundler(include_schema=True).try_bundle(str(out))
    assert sorted(p.name for p in (out / "redshift_schema").glob("V001__*.sql"))
    assert (out / "risk" / "warehouse" / "migrations.py").is_file()
