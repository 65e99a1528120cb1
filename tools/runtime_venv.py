"""``.venv-lambda``: the deployed Python, so CI also tests the Lambda code on what Lambda runs.

The functions run on cdk.json's ``lambda_runtime`` (e.g. python3.13) while the tooling (the CDK,
the linters) runs on the project's Python 3.11. ``make test-runtime`` builds this venv on an
interpreter of the runtime's minor version and runs the Lambda code's tests in it.

Its requirements are ``lambdas/requirements.txt`` plus ``requirements-dev.txt`` filtered, so the
test pins are the same pins, typed once: without the CDK (``-r requirements.txt``), the linters,
and pgserver, which publishes no wheel for every Python (``tools.pg`` then starts the system
PostgreSQL binaries, or uses ``WAREHOUSE_TEST_DSN``). Wheels only: a pin without a wheel for the
runtime fails here instead of compiling. Rebuilt only when the interpreter or a pin changes.

The interpreter is found by ``stacks.runtime_python`` (the bundling step compiles the assets'
bytecode with the same one).

Usage: ``python -m tools.runtime_venv .venv-lambda`` (prints the venv's interpreter).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from stacks.config import REPO_ROOT, lambda_python_version
from stacks.runtime_python import MissingInterpreter, find_interpreter, minor_version

LAMBDA_REQUIREMENTS = REPO_ROOT / "lambdas" / "requirements.txt"
DEV_REQUIREMENTS = REPO_ROOT / "requirements-dev.txt"
# Tooling-only pins (the linters run on 3.11) and pins with no wheel for every Python.
EXCLUDED = frozenset({"ruff", "mypy", "cfn-lint", "pgserver"})
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
__all__ = ["MissingInterpreter", "dev_pins", "ensure_venv", "find_interpreter"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dev_pins(dev_text: str) -> list[str]:
    """``requirements-dev.txt``'s pins minus nested files (the CDK) and :data:`EXCLUDED`."""
    kept = []
    for raw in dev_text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _NAME.match(line)
        if match and _canonical(match.group(1)) not in EXCLUDED:
            kept.append(line)
    return kept


def ensure_venv(target: Path, version: str | None = None) -> Path:
    """Create or refresh ``target`` on the runtime's Python; return its interpreter."""
    version = version or lambda_python_version()
    interpreter = find_interpreter(version)
    pins = dev_pins(DEV_REQUIREMENTS.read_text())
    inputs = "\n".join([str(interpreter), LAMBDA_REQUIREMENTS.read_text(), *pins])
    key = hashlib.sha256(inputs.encode()).hexdigest()[:16]
    python = target / "bin" / "python"
    stamp = target / f".installed-{key}"
    if stamp.exists() and minor_version(python) == version:
        return python
    subprocess.run([str(interpreter), "-m", "venv", "--clear", str(target)], check=True)
    requirements = target / "requirements-test.txt"
    requirements.write_text(f"# requirements-dev.txt without {', '.join(sorted(EXCLUDED))} (tools/runtime_venv.py)\n")
    with requirements.open("a") as out:
        out.write("\n".join(pins) + "\n")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "-r",
            str(LAMBDA_REQUIREMENTS),
            "-r",
            str(requirements),
        ],
        check=True,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    stamp.touch()
    return python


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0] if args else ".venv-lambda")
    print(f"{ensure_venv(target)}: Python {lambda_python_version()} (cdk.json lambda_runtime)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
