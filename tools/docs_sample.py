"""``make docs-sample``: the sample output in docs/local-run.md, regenerated from a real ``make demo`` run.

    python -m tools.docs_sample [demo options, default: none, i.e. 3,000 events, seed 7]

The run's output is abridged the same way every time (the last progress line only, the first lines
of the long sections) and replaces the code block that follows the ``SAMPLE_MARKER`` comment, so the
documented sample is always one a run with the default seed prints.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Sequence

from stacks.config import REPO_ROOT
from tools.cli.errors import OperatorError, guarded
from tools.local import demo

DOC = REPO_ROOT / "docs" / "local-run.md"
SAMPLE_MARKER = "<!-- sample output: regenerate with `make docs-sample` -->"
# Section title -> how many of its lines to keep before "  ...".
KEEP = {"== quarantine by reason": 2, "== score distribution": 4, "== top flagged events (from the warehouse)": 2}
_PROGRESS = re.compile(r"^\[\s*[\d.]+s\] sent ")
_BLOCK = re.compile(re.escape(SAMPLE_MARKER) + r"\n\n```\n.*?\n```\n", re.DOTALL)


def abridge(output: str) -> str:
    """The demo's output with one progress line (the last) and the long sections cut short."""
    lines = output.rstrip("\n").split("\n")
    progress = [i for i, line in enumerate(lines) if _PROGRESS.match(line)]
    lines = [line for i, line in enumerate(lines) if i not in progress[:-1]]
    out: list[str] = []
    keep: int | None = None
    for line in lines:
        if line.startswith("== ") or not line.startswith(" "):
            keep = KEEP.get(line)
            out.append(line)
        elif keep is None:
            out.append(line)
        elif keep > 0:
            out.append(line)
            keep -= 1
            if keep == 0:
                out.append("  ...")
    return "\n".join(out) + "\n"


def splice(doc: str, sample: str) -> str:
    """``doc`` with the code block after the marker replaced by ``sample``."""
    block = f"{SAMPLE_MARKER}\n\n```\n{sample.rstrip(chr(10))}\n```\n"
    replaced, count = _BLOCK.subn(lambda _: block, doc)
    if count != 1:
        raise OperatorError(f"{DOC}: expected one sample block after {SAMPLE_MARKER!r}, found {count}")
    return replaced


def sample(argv: Sequence[str] = ()) -> str:
    """Run ``make demo`` with ``argv`` and return its abridged output (the run must reconcile)."""
    out = io.StringIO()
    code = demo.main(list(argv), out=out)
    if code != 0:
        raise OperatorError(f"the demo run failed (exit {code}); the sample was not updated")
    return abridge(out.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    def work() -> int:
        DOC.write_text(splice(DOC.read_text(), sample(sys.argv[1:] if argv is None else argv)))
        print(f"updated the sample output in {DOC.relative_to(REPO_ROOT)}")
        return 0

    return guarded("make docs-sample", work)


if __name__ == "__main__":
    sys.exit(main())
