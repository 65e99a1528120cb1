"""What a cold start imports: each handler module loads only what its first invocation needs.

A module imported at module level is paid on every cold start (README, benchmarks: cold start). The
load handler connects to the warehouse on its first batch, so the driver (redshift-connector, with
asn1crypto and scramp) is imported there, not at init; the score and load handlers decode their
batches with ``risk.common.batch``, not Powertools' batch utility (asyncio and every event class);
the score handler imports the quarantine writer (and with it the parser) only when it sets an event aside.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from risk.events.limits import SQS_REFUSED_CHARACTERS
from stacks.config import REPO_ROOT

_NOT_AT_COLD_START = (
    "redshift_connector",
    "asn1crypto",
    "scramp",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
)


def _imported_by(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``module`` (nothing else imported first)."""
    script = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'lambdas'}", "AWS_DEFAULT_REGION": "eu-west-1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["risk.parse.handler", "risk.score.handler", "risk.load.handler"])
def test_a_handlers_cold_start_imports_neither_the_warehouse_driver_nor_powertools_batch(module: str) -> None:
    loaded = _imported_by(module)
    assert module in loaded
    assert sorted(m for m in loaded if m.startswith(_NOT_AT_COLD_START)) == []


def test_the_score_handler_leaves_the_parser_to_its_rare_quarantine_path() -> None:
    loaded = _imported_by("risk.score.handler")
    assert sorted(m for m in loaded if m.startswith(("risk.parse", "risk.events.validate", "risk.events.avro"))) == []


def test_the_warehouse_driver_is_imported_at_the_first_connection() -> None:
    script = (
        "import sys\n"
        "from risk.warehouse import connection\n"
        "assert 'redshift_connector' not in sys.modules\n"
        "assert connection.is_connection_error(ConnectionResetError())\n"
        "assert not connection.is_connection_error(KeyError())\n"
        "try:\n"
        "    connection.connect_dsn('postgresql://u:p@127.0.0.1:1/db', statement_timeout_s=1)\n"
        "except Exception as exc:\n"
        "    assert connection.is_connection_error(exc), repr(exc)\n"
        "import redshift_connector\n"
        "assert connection.is_connection_error(redshift_connector.InterfaceError('gone'))\n"
        "print('redshift_connector' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'lambdas'}"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_the_sqs_refused_characters_are_exactly_the_complement_of_what_sqs_accepts() -> None:
    accepted = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # SQS's documented set
    disagree = [
        hex(c)
        for c in range(0x110000)
        if (SQS_REFUSED_CHARACTERS.match(chr(c)) is None) != bool(accepted.match(chr(c)))
    ]
    assert disagree == []
