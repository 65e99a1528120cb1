"""Cold start: import time of each handler module in a fresh interpreter, against ``import boto3`` alone.

Each probe is a new interpreter that times one import, in process CPU time (interpreter start-up
itself is the same for both sides and left out; with the files in the page cache an import is CPU
work, and CPU time is far less disturbed than wall time by the other processes of a shared machine).
The environment is a Lambda one: the functions' own variables from ``runtime_environment`` plus what
the Lambda runtime sets (``LAMBDA_TASK_ROOT`` among them). That matters: outside Lambda, importing
the X-Ray SDK (Powertools Tracer) builds a sampling client with botocore at import time, which
inside Lambda it does not. Nor is there any bytecode cache: the code asset and the dependencies layer
ship sources only (``stacks.bundling``: ``--no-compile``, ``__pycache__`` and ``*.pyc`` excluded) and
``/var/task`` and ``/opt`` are read-only, so Lambda compiles every module it imports on every cold start
(boto3 alone: about 0.55 s of CPU instead of 0.2 s from cached bytecode). The runtime's standard
library is compiled, though. The probes therefore write no ``.pyc`` (``PYTHONDONTWRITEBYTECODE``) and
read none outside the standard library (``_NO_PYC``); one more probe times ``import boto3`` with its
bytecode cached, what a layer shipping ``.pyc`` would pay. Probes are
interleaved (boto3, parse, score, load, boto3, ...) so that
machine noise hits the baseline and the candidates alike; the median of the runs is reported.
``culprits`` names the heaviest imports of a module (``python -X importtime``) that boto3 does not
already pay for.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stacks.config import lambda_runtime, load_environment, runtime_environment
from tools.bench.report import Figure

BENCH = "coldstart"
REPO = Path(__file__).resolve().parents[2]
HANDLERS = {
    "parse": ("risk.parse.handler", 1.3),
    "score": ("risk.score.handler", 1.3),
    "load": ("risk.load.handler", 1.5),
}
BASELINE = "boto3"
# CPU time of the import: on a shared machine it is what the import cost us, not how long we waited for a core.
# With PYTHONDONTWRITEBYTECODE set (the Lambda environment below), modules outside the standard library
# are compiled from source, never read from a .pyc: Lambda's runtime ships its standard library
# compiled, our assets ship sources only (see the module docstring).
_NO_PYC = (
    "import sys\n"
    "if sys.dont_write_bytecode:\n"
    "    import importlib._bootstrap_external as be, sysconfig\n"
    "    std, cached = sysconfig.get_paths()['stdlib'], be.cache_from_source\n"
    "    def only_stdlib(path, *a, **k):\n"
    "        if not path.startswith(std):\n"
    "            raise NotImplementedError\n"
    "        return cached(path, *a, **k)\n"
    "    be.cache_from_source = only_stdlib\n"
)
# CPU time of the import: on a shared machine it is what the import cost us, not how long we waited for a core.
_PROBE = _NO_PYC + "import time; t=time.process_time(); __import__(sys.argv[1]); print(time.process_time()-t)"
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def lambda_environment(task_root: str) -> dict[str, str]:
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(
        PYTHONPATH=f"{REPO / 'lambdas'}:{REPO}",
        AWS_REGION=cfg.region,
        AWS_DEFAULT_REGION=cfg.region,
        AWS_EXECUTION_ENV=f"AWS_Lambda_{lambda_runtime()}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        LAMBDA_TASK_ROOT=task_root,
        LAMBDA_RUNTIME_DIR=task_root,
        PYTHONDONTWRITEBYTECODE="1",  # and, in the probe, no .pyc read outside the standard library
    )
    for stage in HANDLERS:
        env.update(runtime_environment(cfg, stage, dummy))
    return env


def import_seconds(module: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module], env=env, capture_output=True, text=True, check=True, cwd=REPO
    )
    return float(out.stdout.strip().splitlines()[-1])


def import_times(module: str, env: dict[str, str]) -> dict[str, tuple[int, int, int]]:
    """``-X importtime``: module -> (self us, cumulative us, depth)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{_NO_PYC}import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    times: dict[str, tuple[int, int, int]] = {}
    for line in out.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            times[m.group(4)] = (int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2)
    return times


def culprits(module: str, env: dict[str, str], top: int = 6) -> list[tuple[str, float]]:
    """The heaviest top-level packages a module imports beyond what ``import boto3`` loads (ms)."""
    base = import_times(BASELINE, env)
    own = import_times(module, env)
    packages: dict[str, float] = {}
    for name, (self_us, _, _) in own.items():
        if name in base:
            continue
        root = name.split(".")[0] if not name.startswith("risk.") else ".".join(name.split(".")[:2])
        packages[root] = packages.get(root, 0.0) + self_us / 1000
    return sorted(packages.items(), key=lambda kv: -kv[1])[:top]


def run(runs: int = 11) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="risk-bench-task-") as task_root:
        env = lambda_environment(task_root)
        modules = [BASELINE] + [module for module, _ in HANDLERS.values()]
        for module in modules:  # warm the page cache of both sides
            import_seconds(module, env)
        cached_env = {
            k: v for k, v in env.items() if not k.startswith(("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"))
        }
        import_seconds(BASELINE, cached_env)
        cached = statistics.median(import_seconds(BASELINE, cached_env) for _ in range(runs))
        samples: dict[str, list[float]] = {m: [] for m in modules}
        for _ in range(runs):
            for module in modules:
                samples[module].append(import_seconds(module, env))
        base = statistics.median(samples[BASELINE])
        figures = [
            Figure(BENCH, f"import {BASELINE} (baseline), compiled as in Lambda", base * 1000, "ms"),
            Figure(BENCH, f"import {BASELINE} from cached bytecode (a layer with .pyc)", cached * 1000, "ms"),
        ]
        for module, limit in HANDLERS.values():
            t = statistics.median(samples[module])
            ratio = t / base
            met = ratio <= limit
            figures.append(
                Figure(BENCH, f"import {module}", t * 1000, "ms", f"import {BASELINE}", ratio, f"<= {limit}x", met)
            )
            if not met:
                for package, ms in culprits(module, env):
                    figures.append(Figure(BENCH, f"  {module} imports {package} (self time)", ms, "ms"))
    return figures
