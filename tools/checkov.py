"""checkov over synthesized templates: per template, no failed check and at least MIN_PASS_RATIO passing.

``make checkov`` runs it on ``cdk.out/<env>``; tests/infra/test_checkov.py runs it on the templates the
infra tests synthesize. checkov lives in its own venv (``.venv-checkov``, from requirements-checkov.txt):
its exact pins (boto3, packaging, networkx) conflict with the project's. The findings left on purpose are
skipped per resource by stacks/checkov.py (stacks/checkov_skips.json); a skip counts as not passing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# At least this share of checkov's checks must pass on every template, skips counted as not passing.
MIN_PASS_RATIO = 0.95
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


@dataclass(frozen=True)
class TemplateResult:
    """checkov's counts for one template; ``failures`` as ``<check id> <resource>``."""

    template: str
    passed: int
    failed: int
    skipped: int
    failures: tuple[str, ...]

    @property
    def pass_ratio(self) -> float:
        """passed / (passed + failed + skipped): a skip counts as not passing."""
        total = self.passed + self.failed + self.skipped
        return self.passed / total if total else 1.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pass_ratio >= MIN_PASS_RATIO


def summarise(report: object) -> list[TemplateResult]:
    """Per template counts from checkov's JSON report (``-o json``: one object, or a list of one per framework)."""
    counts: dict[str, dict[str, int]] = {}
    failures: dict[str, list[str]] = {}
    for framework in report if isinstance(report, list) else [report]:
        assert isinstance(framework, dict)
        results = framework.get("results", {})
        for outcome in ("passed", "failed", "skipped"):
            for check in results.get(f"{outcome}_checks", []):
                name = Path(check["file_path"]).name
                counts.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0})[outcome] += 1
                if outcome == "failed":
                    failures.setdefault(name, []).append(f"{check['check_id']} {check['resource']}")
    return [
        TemplateResult(name, c["passed"], c["failed"], c["skipped"], tuple(failures.get(name, ())))
        for name, c in sorted(counts.items())
    ]


class CheckovError(Exception):
    """checkov is missing or did not produce a report: the message says what to do."""


def run_checkov(directories: list[Path], checkov: Path = CHECKOV) -> list[TemplateResult]:
    """checkov's CloudFormation checks over every ``*.template.json`` in ``directories``."""
    if not checkov.exists():
        raise CheckovError(f"{checkov} not found: run `make checkov` (it creates .venv-checkov)")
    templates = sorted(str(t) for d in directories for t in d.glob("*.template.json"))
    if not templates:
        raise CheckovError(f"no *.template.json in {', '.join(map(str, directories))}: run `make synth` first")
    args = [str(checkov), "--framework", "cloudformation", "-o", "json", "--compact", "--skip-download"]
    for template in templates:
        args += ["-f", template]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise CheckovError(f"checkov exited {done.returncode} without a report: {done.stderr.strip()[-300:]}") from None
    return summarise(report)


def main(argv: list[str] | None = None) -> int:
    """``python -m stacks.checkov DIR...``: one line per template; exit 1 if one fails a check or is below
    the ratio."""
    directories = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    try:
        results = run_checkov(directories)
    except CheckovError as error:
        print(f"checkov: {error}", file=sys.stderr)
        return 1
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        counts = f"passed {r.passed:3}  failed {r.failed}  skipped {r.skipped:2}"
        print(f"{mark} {r.pass_ratio:6.1%}  {counts}  {r.template}")
        for failure in r.failures:
            print(f"       failed: {failure}")
    bad = [r for r in results if not r.ok]
    print(f"{len(results) - len(bad)} of {len(results)} templates: no failed check and >= {MIN_PASS_RATIO:.0%} passing")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
