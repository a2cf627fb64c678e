"""Model statuses in the run summary: ``warn`` is shown everywhere and does not fail a run."""

from __future__ import annotations

import io
from typing import get_args

from rich.console import Console

from extract.load import ModelResult
from extract.status import STATUSES, Status, is_failure
from flows.cli.tables import results_table
from flows.summary import RunSummary, ledger_rows, markdown, models_table


def _render(table: object) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(table)
    return out.getvalue()


def _summary() -> RunSummary:
    warned = ModelResult("erp", "orders", "warn", 2, 0.1, rows_received=4)
    warned.warnings = ["new source column(s) region: back-fill with `kspyder extract ...`"]
    ok = ModelResult("erp", "items", "ok", 3, 0.1, rows_received=3)
    return RunSummary("r1", models=[warned.as_dict(), ok.as_dict()]).finish()


def test_statuses_are_a_closed_set() -> None:
    assert set(get_args(Status)) == set(STATUSES) == {"ok", "warn", "failed"}
    assert [is_failure(s) for s in STATUSES] == [False, False, True]


def test_a_warning_is_visible_and_does_not_fail_the_run() -> None:
    summary = _summary()
    assert summary.ok
    assert summary.failures == []
    assert summary.warnings == [
        "extract erp.orders: new source column(s) region: back-fill with `kspyder extract ...`"
    ]
    table, text = _render(models_table(summary)), markdown(summary)
    assert "warn" in table
    assert "2 (of 4)" in table
    assert "| erp | orders | warn | 2 (of 4) |" in text
    assert "warning: extract erp.orders: new source column(s) region" in text
    assert "run succeeded with 1 warning(s)" in text
    ledger = {r["model"]: r for r in ledger_rows(summary)}
    assert ledger["orders"]["status"] == "warn"
    assert "region" in ledger["orders"]["error"]
    assert ledger["items"]["error"] is None


def test_cli_results_table_shows_warn_and_kept_of_received() -> None:
    warned = ModelResult("erp", "orders", "warn", 2, 0.1, rows_received=4)
    rendered = _render(results_table([warned], "extract"))
    assert "warn" in rendered
    assert "2 (of 4)" in rendered
