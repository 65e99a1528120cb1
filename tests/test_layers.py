"""The contract layer (``risk.events``) never imports a stage: stages depend on the contract, not back."""

from __future__ import annotations

import ast
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "lambdas" / "risk" / "events"
STAGES = ("risk.parse", "risk.score", "risk.load", "risk.warehouse", "risk.migrate")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_events_package_imports_no_stage() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in EVENTS.glob("*.py")
        for name in _imports(path)
        if any(name == stage or name.startswith(stage + ".") for stage in STAGES)
    }
    assert offending == set()
