"""make demo loads the generator's labels, and the precision view returns figures for them."""

from __future__ import annotations

import io

from risk.warehouse.connection import connect_dsn
from tools.generator import generate
from tools.local.demo import main
from tools.local.labels import precision_recall


def test_demo_loads_sample_labels_and_precision_and_recall_have_figures(fresh_database: str) -> None:
    out = io.StringIO()
    assert main(["--count", "300", "--seed", "3", "--dsn", fresh_database, "--quiet"], out=out) == 0, out.getvalue()
    assert "== outcomes: 300 sample labels loaded into risk_labels (300 new)" in out.getvalue()
    frauds = sum(g.label for g in generate(300, seed=3))
    with connect_dsn(fresh_database) as warehouse:
        rows = precision_recall(warehouse)
    lowest_band_of_each_week = [row for row in rows if row[2] == "low"]
    # At or above the lowest band every labelled event counts: recall 1, precision the fraud share.
    assert sum(row[3] for row in rows) == 300
    assert sum(row[4] for row in rows) == frauds > 0
    assert all(row[6] == 1.0 for row in lowest_band_of_each_week)
    high = [row for row in rows if row[2] == "high" and row[5] is not None]
    assert high and all(0.0 <= row[5] <= 1.0 for row in high)
