"""Cold start as Lambda pays it: each handler's import in a fresh interpreter of the functions' Python
over the bundled assets, against ``import boto3`` measured the same way in the same run.

Each probe is a new interpreter of cdk.json's ``lambda_runtime`` (python3.13, found by
``stacks.runtime_python``) whose ``sys.path`` starts as Lambda's does: the code asset as
``stacks.bundling.CodeBundler`` bundles it (sources and their unchecked-hash ``.pyc``), then the
dependencies layer's ``python/`` as ``LayerBundler`` builds it, for this machine's CPU (the deployed
layer is arm64; its native wheels would not load here; the Python files and their bytecode are the
same). Nothing is written (``PYTHONDONTWRITEBYTECODE``; ``/var/task`` and ``/opt`` are read-only in
Lambda), so whatever has no valid ``.pyc`` is compiled on every probe, as on every cold start.

The environment is a Lambda one: the functions' own variables from ``runtime_environment`` plus what
the Lambda runtime sets (``LAMBDA_TASK_ROOT`` among them). That matters: outside Lambda, importing
the X-Ray SDK (Powertools Tracer) builds a sampling client with botocore at import time, which
inside Lambda it does not. A probe times one import in process CPU time (interpreter start-up is the
same for both sides; CPU time is far less disturbed than wall time by a shared machine's other
processes). Probes are interleaved (boto3, parse, score, load, boto3, ...) so that machine noise hits
the baseline and the candidates alike; the median of the runs is reported.

Also reported: how many modules each import still compiles from source (0 when the bundling ships
bytecode for everything it imports), and the same imports with every ``.pyc`` outside the standard
library ignored, which is what the assets cost before they shipped bytecode. ``culprits`` names the
heaviest imports of a module that misses its target (``-X importtime``) that boto3 does not pay for.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

from stacks.bundling import CodeBundler, LayerBundler, runtime_python
from stacks.config import lambda_runtime, load_environment, runtime_environment
from tools.bench.report import Figure

BENCH = "coldstart"
HANDLERS = {
    "parse": ("risk.parse.handler", 1.3),
    "score": ("risk.score.handler", 1.3),
    "load": ("risk.load.handler", 1.5),
}
BASELINE = "boto3"
# Every .pyc outside the runtime's standard library ignored: the assets as they were without bytecode.
_NO_PYC = (
    "import sys\n"
    "import importlib._bootstrap_external as be, sysconfig\n"
    "std, cached = sysconfig.get_paths()['stdlib'], be.cache_from_source\n"
    "def only_stdlib(path, *a, **k):\n"
    "    if not path.startswith(std):\n"
    "        raise NotImplementedError\n"
    "    return cached(path, *a, **k)\n"
    "be.cache_from_source = only_stdlib\n"
)
# CPU time of the import: on a shared machine it is what the import cost us, not how long we waited for a core.
_TIMED = "import sys, time; t=time.process_time(); __import__(sys.argv[1]); print(time.process_time()-t)"
# Modules compiled from source during the import, outside the runtime's standard library.
_COUNTED = (
    "import sys, sysconfig, importlib._bootstrap_external as be\n"
    "std, compiled, original = sysconfig.get_paths()['stdlib'], [], be.SourceLoader.source_to_code\n"
    "def counting(self, data, path, *a, **k):\n"
    "    if not str(path).startswith(std):\n"
    "        compiled.append(str(path))\n"
    "    return original(self, data, path, *a, **k)\n"
    "be.SourceLoader.source_to_code = counting\n"
    "__import__(sys.argv[1])\n"
    "print(len(compiled))\n"
)
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


class Probe:
    """Fresh runtime interpreters over one task root and one layer, in a Lambda-like environment."""

    def __init__(self, python: Path, task_root: Path, layer: Path) -> None:
        self.python = python
        self.env = lambda_environment(task_root, layer)

    def _run(self, code: str, module: str, *flags: str) -> subprocess.CompletedProcess[str]:
        # -S: no site-packages of this machine's interpreter (nor its .pth files); the layer is on PYTHONPATH.
        command = [str(self.python), "-S", *flags, "-c", code, module]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=True, cwd="/")

    def seconds(self, module: str, *, bytecode: bool = True) -> float:
        out = self._run(_TIMED if bytecode else _NO_PYC + _TIMED, module)
        return float(out.stdout.strip().splitlines()[-1])

    def compiled(self, module: str) -> int:
        return int(self._run(_COUNTED, module).stdout.strip().splitlines()[-1])

    def import_times(self, module: str) -> dict[str, tuple[int, int, int]]:
        """``-X importtime``: module -> (self us, cumulative us, depth)."""
        out = self._run(f"import {module}", module, "-X", "importtime")
        times: dict[str, tuple[int, int, int]] = {}
        for line in out.stderr.splitlines():
            m = _IMPORTTIME.match(line)
            if m:
                times[m.group(4)] = (int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2)
        return times

    def culprits(self, module: str, top: int = 6) -> list[tuple[str, float]]:
        """The heaviest top-level packages a module imports beyond what ``import boto3`` loads (ms)."""
        base = self.import_times(BASELINE)
        packages: dict[str, float] = {}
        for name, (self_us, _, _) in self.import_times(module).items():
            if name in base:
                continue
            root = name.split(".")[0] if not name.startswith("risk.") else ".".join(name.split(".")[:2])
            packages[root] = packages.get(root, 0.0) + self_us / 1000
        return sorted(packages.items(), key=lambda kv: -kv[1])[:top]


def lambda_environment(task_root: Path, layer: Path) -> dict[str, str]:
    """The variables a function sees in Lambda (dummy resource values; nothing is called)."""
    cfg = load_environment("dev")
    dummy = {
        k: "bench"
        for k in (
            "PARSED_QUEUE_URL",
            "SCORED_QUEUE_URL",
            "ARCHIVE_BUCKET",
            "STATE_TABLE",
            "REDSHIFT_WORKGROUP",
            "REDSHIFT_HOST",
            "PII_KEY_SECRET_ARN",
        )
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PYTHONPATH=f"{task_root}{os.pathsep}{layer / 'python'}",  # /var/task, then /opt/python
        AWS_REGION=cfg.region,
        AWS_DEFAULT_REGION=cfg.region,
        AWS_EXECUTION_ENV=f"AWS_Lambda_{lambda_runtime()}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        LAMBDA_TASK_ROOT=str(task_root),
        LAMBDA_RUNTIME_DIR=str(task_root),
        PYTHONDONTWRITEBYTECODE="1",  # read-only /var/task and /opt: nothing compiled is ever kept
    )
    for stage in HANDLERS:
        env.update(runtime_environment(cfg, stage, dummy))
    return env


def host_layer() -> Path:
    """The dependencies layer for this machine's CPU, built (once, cached) by the deployed layer's steps."""
    return LayerBundler(machine=platform.machine(), python=runtime_python()).build()


def run(runs: int = 11, uncompiled_runs: int | None = None) -> list[Figure]:
    """``uncompiled_runs`` (default half of ``runs``): the imports without ``.pyc`` are 3-4x slower."""
    uncompiled_runs = max(1, runs // 2) if uncompiled_runs is None else uncompiled_runs
    python = runtime_python()
    layer = host_layer()
    with tempfile.TemporaryDirectory(prefix="risk-bench-task-") as task:
        task_root = Path(task)
        CodeBundler(include_schema=False, python=python).try_bundle(str(task_root))
        probe = Probe(python, task_root, layer)
        modules = [BASELINE] + [module for module, _ in HANDLERS.values()]
        for module in modules:  # warm the page cache of both sides
            probe.seconds(module)
        samples: dict[str, list[float]] = {m: [] for m in modules}
        for _ in range(runs):
            for module in modules:
                samples[module].append(probe.seconds(module))
        uncompiled: dict[str, list[float]] = {m: [] for m in modules}
        for _ in range(uncompiled_runs):
            for module in modules:
                uncompiled[module].append(probe.seconds(module, bytecode=False))
        base = statistics.median(samples[BASELINE])
        base_uncompiled = statistics.median(uncompiled[BASELINE])
        version = lambda_runtime()
        figures = [
            Figure(BENCH, f"import {BASELINE} (baseline), {version} over the bundled layer", base * 1000, "ms"),
            Figure(
                BENCH,
                f"import {BASELINE} without the layer's .pyc (compiled on import)",
                base_uncompiled * 1000,
                "ms",
                "with .pyc",
                base_uncompiled / base,
            ),
        ]
        for module, limit in HANDLERS.values():
            t = statistics.median(samples[module])
            ratio = t / base
            met = ratio <= limit
            figures.append(
                Figure(BENCH, f"import {module}", t * 1000, "ms", f"import {BASELINE}", ratio, f"<= {limit}x", met)
            )
            compiled = probe.compiled(module)
            figures.append(
                Figure(
                    BENCH, f"  {module}: modules compiled on import", compiled, "modules", "", None, "0", compiled == 0
                )
            )
            before = statistics.median(uncompiled[module])
            figures.append(
                Figure(
                    BENCH,
                    f"  {module} without .pyc (compiled on import)",
                    before * 1000,
                    "ms",
                    f"import {BASELINE} without .pyc",
                    before / base_uncompiled,
                )
            )
            if not met:
                for package, ms in probe.culprits(module):
                    figures.append(Figure(BENCH, f"  {module} imports {package} (self time)", ms, "ms"))
    return figures
