"""One line per figure, and a JSON file the README table is written from."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None  # value relative to the baseline, in the direction stated by `target`
    target: str = ""
    met: bool | None = None

    def line(self) -> str:
        ratio = "" if self.ratio is None else f"  ratio {self.ratio:.2f}x vs {self.baseline}"
        verdict = "" if self.met is None else ("  [target met]" if self.met else "  [TARGET MISSED]")
        target = f"  (target {self.target})" if self.target else ""
        return f"{self.bench:<10} {self.name:<48} {self.value:>14,.2f} {self.unit:<10}{ratio}{target}{verdict}"


def write_json(figures: list[Figure], path: Path) -> None:
    doc = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def read_json(path: Path) -> list[Figure]:
    return [Figure(**f) for f in json.loads(path.read_text())["figures"]]


def markdown(figures: list[Figure]) -> str:
    """The README table: one row per figure, with its baseline, ratio, target and verdict."""
    rows = ["| benchmark | figure | value | vs baseline | target | met |", "|---|---|---:|---|---|---|"]
    for f in figures:
        ratio = "" if f.ratio is None else f"{f.ratio:,.2f}x vs {f.baseline}"
        verdict = "" if f.met is None else ("yes" if f.met else "**no**")
        value = f"{f.value:,.0f}" if abs(f.value) >= 100 else f"{f.value:,.2f}"
        rows.append(f"| {f.bench} | {f.name.strip()} | {value} {f.unit} | {ratio} | {f.target} | {verdict} |")
    return "\n".join(rows) + "\n"
