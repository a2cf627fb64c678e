"""The report's content (from the database and the pipelines), the command and the flow step."""

from __future__ import annotations

import re
from typing import Any

from typer.testing import CliRunner

from extract import project
from flows import stages
from flows.cli import build_app
from flows.summary import RunSummary
from tests.helpers.cloud import Data, costs_by, expected_topology
from transform.report import collect, write_report
from transform.report.data import cost_series


def test_report_data_matches_the_served_estate(estate: Data) -> None:
    data = collect()
    expected = expected_topology(estate)
    got = {v["name"]: v for v in data.vnets}
    assert set(got) == set(expected)
    assert len(got) == 200
    for name, (nodes, edges) in expected.items():
        elements = got[name]["elements"]
        assert (sum("source" not in e["data"] for e in elements),
                sum("source" in e["data"] for e in elements)) == (nodes, edges), name  # fmt: skip
    months, series = cost_series(data.cost_by_tag)
    python = costs_by(estate, "CostCenter")
    for value, ys in series.items():
        for month, y in zip(months, ys, strict=True):
            total = sum(t for (v, _, m), (t, _) in python.items() if v == value and m == month)
            assert abs(y - total) < 0.02, (value, month)


def test_report_command_writes_one_offline_file(estate: Data) -> None:
    result = CliRunner().invoke(build_app(), ["report"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    path = project.report_dir() / "index.html"
    assert f"report -> {path}" in " ".join(result.output.split())
    text = path.read_text()
    assert "<script src" not in text
    assert "<link" not in text
    assert not re.search(r"""<(script|img|iframe)[^>]+src=""", text)  # no fetch at all
    assert "Cytoscape Consortium" in text
    assert "plotly.js" in text


def test_report_command_without_an_estate_fails_cleanly() -> None:
    result = CliRunner().invoke(build_app(), ["report"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "no virtual networks in the documents database 'cloud'" in " ".join(
        result.output.split()
    )


def test_elt_report_step_skips_writes_and_fails(estate: Data, monkeypatch: Any) -> None:
    assert stages.report_stage("empty_db")["status"] == "skipped"
    done = stages.report_stage()
    assert done["status"] == "ok"
    assert done["path"] == str(write_report())
    monkeypatch.setattr("transform.report.collect", _boom)
    failed = stages.report_stage()
    assert failed["status"] == "failed"
    assert "boom" in failed["error"]
    summary = RunSummary(run_id="r", report=failed).finish()
    assert summary.failures == ["report: boom"]
    assert not summary.ok


def _boom(*args: Any) -> Any:
    raise RuntimeError("boom")
