"""Smoke run of bench/bench_mongo.py: both contenders, every measure, tiny size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_mongo
from transform.aggregate import load_pipelines


@pytest.mark.slow
def test_both_contenders_load_aggregate_rerun_and_survive_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "mongo.json"
    bench_mongo.main(["--sizes", "300", "--repeats", "1", "--timeout", "240", "--json", str(out)])
    runs = json.loads(out.read_text())["runs"]
    declared = set(load_pipelines())
    assert {"cost_by_tag", "routes_by_vnet", "vms_by_option"} <= declared
    assert [r["contender"] for r in runs] == ["mongomock", "secantus"]
    for run in runs:
        assert run["count"] == 300, run
        assert set(run["aggregations_s"]) == declared, run
        assert (run["crash"]["lost"], run["crash"]["duplicates"]) == (0, 0), run
    assert runs[1]["server_peak_mb"] > 0
    assert runs[0]["server_peak_mb"] == 0
    assert "| 300 | secantus | 1 |" in bench_mongo.summary(runs)
