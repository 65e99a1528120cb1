"""The Makefile's setup: each step announced and timed, pip not silenced, the riskctl command installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stacks.config import REPO_ROOT


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_timed_step_prints_its_name_then_its_elapsed_time_and_keeps_a_failure(tmp_path: Path) -> None:
    extra = tmp_path / "extra.mk"
    extra.write_text("ok-step:\n\t$(call timed,a step,echo working)\nbad-step:\n\t$(call timed,a bad step,false)\n")
    done = _make("-f", "Makefile", "-f", str(extra), "ok-step")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "== a step" and lines[1] == "working"
    assert lines[2].startswith("   a step: done in ") and lines[2].endswith("s")
    failed = _make("-f", "Makefile", "-f", str(extra), "bad-step")
    assert failed.returncode != 0
    assert "done in" not in failed.stdout


def test_install_into_a_new_venv_announces_every_step_and_installs_riskctl(tmp_path: Path) -> None:
    plan = _make("-n", "install", f"VENV={tmp_path / 'venv'}", f"NODE_STAMP={tmp_path / 'node-stamp'}").stdout
    assert "--quiet" not in plan and "--progress-bar off -r requirements-dev.txt" in plan
    for step in ("== Python packages", "== Node packages", "== riskctl"):
        assert step in plan, step
    assert "pip install --disable-pip-version-check --progress-bar off --no-deps -e ." in plan
