"""``make bench``: every benchmark, one line per figure, and ``docs/benchmarks.json``.

    python -m tools.bench [--only hotpath,warmstate,coldstart,assets,loader,apicalls,synth,suite]
                          [--quick] [--with-suite] [--json PATH] [--dsn DSN]
    python -m tools.bench --markdown      # the README table, from docs/benchmarks.json

Each figure is a ratio against a baseline measured in the same run on the same machine.
``--quick`` shrinks every input (a smoke run of a few seconds, figures not meaningful).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.bench.report import Figure, markdown, read_json, write_json

REPO = Path(__file__).resolve().parents[2]
DEFAULT_JSON = REPO / "docs" / "benchmarks.json"
BENCHES = ("hotpath", "warmstate", "coldstart", "assets", "loader", "apicalls", "synth", "suite")
DEFAULT = ("hotpath", "warmstate", "coldstart", "assets", "loader", "apicalls", "synth")


def _plan(args: argparse.Namespace) -> dict[str, Callable[[], list[Figure]]]:
    """Module and keyword arguments of each benchmark, full size or quick."""
    quick = args.quick
    kwargs: dict[str, dict[str, Any]] = {
        "hotpath": {"count": 2_000} if quick else {},
        "warmstate": {"users": 200, "history": 5_000, "count": 1_000, "repeats": 1, "heavy": ((2, 40), (5, 10))}
        if quick
        else {},
        "coldstart": {"runs": 3} if quick else {},
        "assets": {},
        "loader": {"sizes": (10, 100), "repeats": 1, "dsn": args.dsn} if quick else {"dsn": args.dsn},
        "apicalls": {"count": 300} if quick else {},
        "synth": {"envs": ("dev",)} if quick else {},
        "suite": {},
    }
    modules = {"synth": "synth", "suite": "synth"}
    functions = {"suite": "run_suite"}

    def runner(name: str) -> Callable[[], list[Figure]]:
        def call() -> list[Figure]:
            module = importlib.import_module(f"tools.bench.{modules.get(name, name)}")
            fn = getattr(module, functions.get(name, "run"))
            figures: list[Figure] = fn(**kwargs[name])
            return figures

        return call

    return {name: runner(name) for name in BENCHES}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make bench ARGS=...", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--with-suite", action="store_true", help="also time the whole test suite (minutes)")
    p.add_argument("--quick", action="store_true", help="tiny inputs: checks the benchmarks run, figures meaningless")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures (default %(default)s)")
    p.add_argument("--no-json", action="store_true", help="print only")
    p.add_argument("--markdown", action="store_true", help="print --json as a markdown table; run nothing")
    p.add_argument("--dsn", help="an existing PostgreSQL for the loader benchmark (default: embedded)")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown(read_json(args.json)), end="")
        return 0
    selected = list(DEFAULT) + (["suite"] if args.with_suite else [])
    if args.only:
        selected = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(selected) - set(BENCHES))
        if unknown:
            p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    # As the Makefile does: the pinned Node and CDK CLI first on PATH (jsii starts Node for aws_cdk).
    os.environ["PATH"] = f"{REPO / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    plan = _plan(args)
    figures: list[Figure] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in selected:
        t0 = time.monotonic()
        try:
            produced = plan[name]()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            print(f"{name:<10} FAILED: {type(exc).__name__}: {exc}", flush=True)
            continue
        for figure in produced:
            print(figure.line(), flush=True)
        figures.extend(produced)
        print(f"{'':<10} ({name}: {time.monotonic() - t0:.1f}s)", flush=True)
    missed = [f for f in figures if f.met is False]
    print(f"\n{len(figures)} figures in {time.monotonic() - started:.0f}s; {len(missed)} target(s) missed", end="")
    print(f"; benchmark(s) failed: {', '.join(failed)}" if failed else "")
    if not args.no_json and not args.quick:
        if args.only and args.json.exists():  # a subset: the other benchmarks keep their last figures
            ran = set(selected)
            kept = [f for f in read_json(args.json) if f.bench not in ran]
            figures = [f for name in BENCHES for f in (figures if name in ran else kept) if f.bench == name]
        write_json(figures, args.json)
        print(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
