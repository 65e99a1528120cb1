"""The README stays true to the code: its environments table is the config, rendered."""

from __future__ import annotations

from stacks.config import REPO_ROOT
from tools import envtable


def test_environments_tables_match_cdk_json() -> None:
    for doc in ("README.md", "docs/infrastructure.md"):
        text = (REPO_ROOT / doc).read_text()
        assert envtable.render() in text, f"{doc} is stale: paste `python -m tools.envtable` into it"


def test_readme_documents_both_commands_and_every_demo_option() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for text in (
        "make demo",
        "make test",
        "make synth",
        "make bench",
        "--events",
        "--format",
        "--count",
        "--seed",
        "--summary-json",
        "--export",
        "--dsn",
        "--unusual",
    ):
        assert text in readme, text
