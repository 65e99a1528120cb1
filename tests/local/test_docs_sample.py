"""docs/local-run.md's sample output is a real run's, abridged the same way each time (`make docs-sample`)."""

from __future__ import annotations

import re

import pytest

from tools import docs_sample
from tools.cli.errors import OperatorError
from tools.local.demo import DEFAULT_COUNT, generated_records


def test_a_real_run_is_abridged_and_spliced_into_the_doc(fresh_database: str) -> None:
    sample = docs_sample.sample(["--count", "200", "--seed", "5", "--dsn", fresh_database])
    lines = sample.splitlines()
    sent = len(generated_records(200, 5, "json"))
    assert lines[0] == f"make demo: env=dev format=json records={sent} (generated, seed 5)"
    assert sum(1 for line in lines if re.match(rf"^\[\s*[\d.]+s\] sent {sent}/{sent}", line)) == 1  # the last only
    assert "  sent = loaded + quarantined + dlq + duplicates: balanced" in lines
    quarantine = lines.index("== quarantine by reason")
    assert lines[quarantine + 3] == "  ..."  # two reasons, then cut
    assert "OK: every record is accounted for" in lines

    doc = docs_sample.DOC.read_text()
    updated = docs_sample.splice(doc, sample)
    assert sample in updated and updated != doc
    assert docs_sample.splice(updated, sample) == updated
    assert updated.split(docs_sample.SAMPLE_MARKER)[0] == doc.split(docs_sample.SAMPLE_MARKER)[0]


def test_splice_refuses_a_doc_without_the_marker() -> None:
    with pytest.raises(OperatorError, match="expected one sample block"):
        docs_sample.splice("# no sample here\n", "x\n")


def test_the_committed_sample_is_a_default_seed_run() -> None:
    """The deterministic parts of the committed sample match what the default run sends."""
    block = docs_sample.DOC.read_text().split(docs_sample.SAMPLE_MARKER)[1]
    sent = len(generated_records(DEFAULT_COUNT, 7, "json"))
    assert f"make demo: env=dev format=json records={sent} (generated, seed 7)" in block
    assert re.search(rf"^  sent\s+{sent}$", block, re.MULTILINE)
    assert re.search(rf"^  loaded\s+{DEFAULT_COUNT}$", block, re.MULTILINE)
