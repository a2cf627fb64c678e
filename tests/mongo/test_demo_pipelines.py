"""The three demo pipelines over the FULL demo data, checked against plain Python."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from demo import cloud
from extract import project
from extract.errors import KspyderError
from tests.helpers import query
from transform.aggregate import check_fixture, get_pipeline, load_pipelines, run_pipeline

Data = dict[str, list[dict[str, Any]]]


def routes(vnets: list[dict[str, Any]], region: str | None = None) -> list[dict[str, Any]]:
    rows = [
        {
            "vnet": v["name"],
            "region": v["region"],
            "subnet": s["name"],
            "subnet_prefix": s["address_prefix"],
            "route_table": s["route_table"]["name"],
            "route": r["name"],
            "address_prefix": r["address_prefix"],
            "next_hop_type": r["next_hop_type"],
            "next_hop_ip": r["next_hop_ip"],
        }
        for v in vnets
        if region is None or v["region"] == region
        for s in v["subnets"]
        if s["route_table"]
        for r in s["route_table"]["routes"]
    ]
    return sorted(rows, key=lambda r: (r["vnet"], r["subnet"], r["route"]))


def vms_by(vms: list[dict[str, Any]], option: str) -> list[dict[str, Any]]:
    counts = Counter(v["options"][option] for v in vms)
    return [
        {
            "vms": counts[value],
            "names": sorted(v["name"] for v in vms if v["options"][option] == value),
            "option": option,
            "value": value,
        }
        for value in sorted(counts)
    ]


def costs_by(costs: list[dict[str, Any]], tag: str, since: str = "") -> dict[tuple[str, ...], Any]:
    sums: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for c in costs:
        if c["date"] >= since:
            key = (c["tags"].get(tag, "(untagged)"), c["resource_group"], c["date"][:7])
            sums[key].append(c["cost"])
    return {k: (math.fsum(v), len(v)) for k, v in sums.items()}


def _json(path: str) -> Any:
    return json.loads(Path(path).read_text())


def test_every_demo_pipeline_passes_its_fixture_test() -> None:
    for pipeline in load_pipelines().values():
        result = check_fixture(pipeline)
        assert result is not None
        assert result.passed, (result.expected, result.actual)


@pytest.mark.parametrize("region", [None, "westeurope", "swedencentral", "nowhere"])
def test_routes_by_vnet_matches_python(demo_cloud: Data, region: str | None) -> None:
    params = {"region": region} if region else {}
    json_path, csv_path = run_pipeline("routes_by_vnet", params)
    expected = routes(demo_cloud["virtual_networks"], region)
    assert _json(json_path) == expected
    assert bool(expected) == (region != "nowhere")
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in expected]


@pytest.mark.parametrize("option", ["accelerated_networking", "os_disk_type", "patch_mode"])
def test_vms_by_option_matches_python(demo_cloud: Data, option: str) -> None:
    params = {} if option == "accelerated_networking" else {"option": option}
    json_path, csv_path = run_pipeline("vms_by_option", params)
    got = _json(json_path)
    assert got == vms_by(demo_cloud["vms"], option)
    assert sum(r["vms"] for r in got) == cloud.VM_COUNT
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [json.loads(r["names"]) for r in rows] == [r["names"] for r in got]  # lists as JSON


@pytest.mark.parametrize(
    ("tag", "since"), [("cost_center", None), ("env", "2025-12-01"), ("owner_team", None)]
)
def test_cost_by_tag_matches_python(demo_cloud: Data, tag: str, since: str | None) -> None:
    params = {"tag": tag} | ({"since": since} if since else {})
    json_path, csv_path, table = run_pipeline("cost_by_tag", params)
    expected = costs_by(demo_cloud["costs"], tag, since or "")
    got = _json(json_path)
    assert [(r["tag_value"], r["resource_group"], r["month"]) for r in got] == sorted(expected)
    for row in got:
        total, records = expected[(row["tag_value"], row["resource_group"], row["month"])]
        assert row["records"] == records and row["tag"] == tag
        assert row["cost"] == round(row["cost"], 2) == pytest.approx(total, abs=0.005 + 1e-9)
    assert sum(r["records"] for r in got) == sum(n for _, n in expected.values())
    assert table.endswith("aggregates.cost_by_tag")
    stored = query(str(project.duckdb_path()), "select count(*), sum(records), sum(cost) "
                   "from aggregates.cost_by_tag")  # fmt: skip
    assert stored[0][:2] == (len(got), sum(r["records"] for r in got))
    assert stored[0][2] == pytest.approx(sum(r["cost"] for r in got))
    with open(csv_path, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(got)


def test_parameters_are_checked_before_running(demo_cloud: Data) -> None:
    with pytest.raises(KspyderError, match="'nope' is not one of accelerated_networking"):
        run_pipeline("vms_by_option", {"option": "nope"})
    with pytest.raises(KspyderError, match=r"parameter 'since': expected a date"):
        run_pipeline("cost_by_tag", {"since": "December"})
    with pytest.raises(KspyderError, match=r"unknown parameter\(s\) colour \(declared: region\)"):
        run_pipeline("routes_by_vnet", {"colour": "red"})
    with pytest.raises(KspyderError, match="unknown pipeline 'nope'; available: cost_by_tag"):
        get_pipeline("nope")


@pytest.mark.postgres
def test_cost_by_tag_table_in_postgres(
    demo_cloud: Data, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSPYDER_WAREHOUSE", pg_database)
    outputs = run_pipeline("cost_by_tag", {})
    got = _json(outputs[0])
    rows = query(pg_database, "select tag_value, cost, records from aggregates.cost_by_tag "
                 "order by tag_value, resource_group, month")  # fmt: skip
    assert [(r["tag_value"], r["cost"], r["records"]) for r in got] == [tuple(r) for r in rows]
    run_pipeline("cost_by_tag", {"since": "2025-12-31"})  # replaced whole, not appended
    assert query(pg_database, "select sum(records) from aggregates.cost_by_tag")[0][0] == 40
