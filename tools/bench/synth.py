"""Synthesis and test-suite wall time.

Synthesis runs the app factory (``stacks.app_factory.build_app``, what ``app.py`` and the tests
use, cdk-nag included) for every environment in a fresh interpreter with the pinned Node first on
PATH, as ``make synth`` does. ``bundle=False``: the Lambda assets are the plain directories, so the
figure is the CDK's own work and never a pip install of the dependencies layer (``make synth``
reuses that layer from its cache after the first build). Baseline in the same interpreter: the CDK
start-up (loading jsii and aws-cdk-lib, then synthesizing one empty stack), which every CDK app pays.

The suite figure (``--with-suite``) is ``pytest -q`` of the whole repository, in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tools.bench.report import Figure

BENCH = "synth"
REPO = Path(__file__).resolve().parents[2]
ENVS = ("dev", "staging", "prod")


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{REPO / 'node_modules' / '.bin'}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO / 'lambdas'}:{REPO}"
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    return env


def _child(envs: Sequence[str]) -> dict[str, float]:
    """Runs in the fresh interpreter: seconds for the CDK start-up, then for each environment."""
    started = time.perf_counter()
    from aws_cdk import App, CfnWaitConditionHandle, Stack  # noqa: PLC0415 (timed on purpose)

    from stacks.app_factory import build_app, committed_context  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="risk-bench-synth-") as out:
        empty = App(outdir=f"{out}/empty", context=committed_context())
        # One placeholder resource: the committed feature flags validate templates, and CloudFormation
        # refuses a stack without resources (F0001).
        CfnWaitConditionHandle(Stack(empty, "Empty"), "Placeholder")
        empty.synth()
        times = {"startup": time.perf_counter() - started}
        for name in envs:
            t = time.perf_counter()
            built = build_app(name, bundle=False, app=App(outdir=f"{out}/{name}", context=committed_context()))
            built.app.synth()
            times[name] = time.perf_counter() - t
    return times


def run(envs: Sequence[str] = ENVS) -> list[Figure]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "tools.bench.synth", "--child", *envs],
        env=child_environment(),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"synthesis failed: {out.stderr.strip().splitlines()[-1:] or out.returncode}")
    times = json.loads(out.stdout.strip().splitlines()[-1])
    base = times.pop("startup")
    figures = [Figure(BENCH, "CDK start-up + empty stack (baseline)", base, "s")]
    for name, seconds in times.items():
        label = f"build + synth env={name} (cdk-nag on)"
        figures.append(Figure(BENCH, label, seconds, "s", "CDK start-up", seconds / base))
    figures.append(
        Figure(BENCH, f"every environment ({len(times)}), fresh interpreter", wall, "s", "CDK start-up", wall / base)
    )
    return figures


def run_suite() -> list[Figure]:
    """Wall time of the whole test suite (``pytest -q``); fails loudly if the suite does."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        env=child_environment(),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    summary = (out.stdout.strip().splitlines() or ["(no output)"])[-1]
    figures = [Figure("suite", f"pytest -q, whole suite ({summary.strip('= ')})", wall, "s")]
    if out.returncode != 0:
        figures.append(Figure("suite", "test suite passed", 0.0, "bool", target="passes", met=False))
    return figures


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    print(json.dumps(_child(sys.argv[2:])))
