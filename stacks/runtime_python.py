"""The functions' own Python on this machine: an interpreter of cdk.json's ``lambda_runtime`` minor.

Two things need it: ``make test-runtime`` (``tools.runtime_venv``) runs the Lambda code's tests on
it, and the bundling step (``stacks.bundling``) compiles the assets' bytecode with it, since a
``.pyc`` is only read by the Python minor that wrote it. No CDK import here: the test venv
tooling uses this module too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


class MissingInterpreter(SystemExit):
    """No interpreter of the runtime's minor version on this machine (one line for make to print)."""


def minor_version(python: Path) -> str | None:
    """``3.13`` for a working interpreter; None for a broken one (e.g. a pyenv shim of another version)."""
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def candidates(version: str) -> list[Path]:
    """``python3.13`` on PATH first, then pyenv's installs of 3.13.x, newest patch first."""
    found = [Path(p) for p in [shutil.which(f"python{version}")] if p]
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installs = root.glob(f"versions/{version}.*/bin/python{version}")

    def patch(path: Path) -> tuple[int, ...]:
        tail = path.parent.parent.name.removeprefix(f"{version}.")
        return tuple(int(part) for part in re.findall(r"\d+", tail)) or (-1,)

    found += sorted(installs, key=patch, reverse=True)
    return found


def find_interpreter(version: str) -> Path:
    """The first working interpreter of ``version``, or :class:`MissingInterpreter` in one line."""
    for python in candidates(version):
        if minor_version(python) == version:
            return python
    raise MissingInterpreter(
        f"no Python {version} (cdk.json lambda_runtime) here: put python{version} on PATH "
        f"or install it with `pyenv install {version}`"
    )
