"""The demo pipelines over the FULL ARM estate, checked against plain Python on the served data.

The Python side joins ids case-insensitively on the documents as the API serves them (mixed
case); the pipelines run on what the manifest loads (ids lower-cased by ``normalize_ids``).
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from extract import project
from extract.errors import KspyderError
from tests.helpers import query
from tests.helpers.cloud import (
    Data,
    costs_by,
    disagreements,
    resources,
    routes,
    top_resources,
    vms_by,
)
from transform.aggregate import check_fixture, get_pipeline, load_pipelines, run_pipeline


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
    expected = routes(demo_cloud, region)
    assert _json(json_path) == expected
    assert bool(expected) == (region != "nowhere")
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in expected]


def test_routes_join_needs_the_id_normalisation(demo_cloud: Data) -> None:
    """About a fifth of the served references differ in case: an exact join would lose them."""
    exact = {t["id"] for t in demo_cloud["route_tables"]}
    refs = [s["properties"]["routeTable"]["id"] for v in demo_cloud["virtual_networks"]
            for s in v["properties"]["subnets"] if "routeTable" in s["properties"]]  # fmt: skip
    assert 0 < sum(ref not in exact for ref in refs)
    json_path, _ = run_pipeline("routes_by_vnet", {})
    assert {(r["vnet"], r["subnet"]) for r in _json(json_path)} == {
        (r["vnet"], r["subnet"]) for r in routes(demo_cloud)
    }
    assert {r["next_hop_type"] for r in _json(json_path)} >= {"VirtualAppliance", "Internet"}


@pytest.mark.parametrize("option", ["enableAcceleratedNetworking", "enableIPForwarding"])
def test_vms_by_option_matches_python(demo_cloud: Data, option: str) -> None:
    params = {} if option == "enableAcceleratedNetworking" else {"option": option}
    json_path, csv_path = run_pipeline("vms_by_option", params)
    got = _json(json_path)
    assert got == vms_by(demo_cloud, option)
    assert sum(r["vms"] for r in got) == len(demo_cloud["vms"])
    assert "mixed" in {r["value"] for r in got}
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [json.loads(r["names"]) for r in rows] == [r["names"] for r in got]  # lists as JSON


def test_nic_disagreements_matches_python(demo_cloud: Data) -> None:
    [json_path] = run_pipeline("nic_disagreements", {})
    expected = disagreements(demo_cloud)
    assert _json(json_path) == expected
    assert len(expected) > 10


@pytest.mark.parametrize(
    ("tag", "since"), [("CostCenter", None), ("env", 20251201), ("owner", None)]
)
def test_cost_by_tag_matches_python(demo_cloud: Data, tag: str, since: int | None) -> None:
    params = {"tag": tag} | ({"since": str(since)} if since else {})
    json_path, csv_path, table = run_pipeline("cost_by_tag", params)
    expected = costs_by(demo_cloud, tag, since or 0)
    got = _json(json_path)
    assert [(r["TagValue"], r["ServiceName"], r["ChargePeriodStart"]) for r in got] == sorted(
        expected
    )
    for row in got:
        total, records = expected[(row["TagValue"], row["ServiceName"], row["ChargePeriodStart"])]
        assert row["records"] == records
        assert row["TagKey"] == tag
        assert row["BilledCost"] == row["EffectiveCost"] == pytest.approx(total, abs=0.005 + 1e-9)
        assert row["BillingCurrency"] == "EUR"
    assert sum(r["records"] for r in got) == sum(n for _, n in expected.values())
    assert table.endswith("aggregates.cost_by_tag")
    stored = query(str(project.duckdb_path()), "select count(*), sum(records), sum(\"BilledCost\") "
                   "from aggregates.cost_by_tag")  # fmt: skip
    assert stored[0][:2] == (len(got), sum(r["records"] for r in got))
    assert stored[0][2] == pytest.approx(sum(r["BilledCost"] for r in got))
    with open(csv_path, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(got)


def test_cost_by_resource_matches_python(demo_cloud: Data) -> None:
    json_path, _ = run_pipeline("cost_by_resource", {"top": "7"})
    got = _json(json_path)
    expected = top_resources(demo_cloud, 7)
    assert [(r["ResourceId"], r["ResourceName"]) for r in got] == [(i, n) for i, n, _ in expected]
    for row, (_, _, total) in zip(got, expected, strict=True):
        assert row["BilledCost"] == pytest.approx(total, abs=0.005 + 1e-9)
        assert row["Tags"] == resources(demo_cloud)[row["ResourceId"]]["tags"]


def test_a_pipeline_on_fields_no_document_has_warns(
    demo_cloud: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The old flat pipeline over ARM data returned 0 rows silently; now it says why."""
    shutil.copy(project.ROOT / "mongo_pipelines" / "pipeline.schema.json", tmp_path)
    (tmp_path / "flat_routes.yml").write_text(
        "description: routes of the old flat shape\ndatabase: cloud\ncollection: virtual_networks\n"
        "stages:\n  - $match: {region: westeurope}\n  - $unwind: $subnets\n"
        "  - $lookup: {from: route_tables, localField: subnets.route_table_id, foreignField: id,"
        " as: rt}\n  - $project: {_id: 0, name: 1}\n"
    )
    monkeypatch.setenv("KSPYDER_MONGO_PIPELINES", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="transform.aggregate.run"):
        [json_path] = run_pipeline("flat_routes", {})
    assert _json(json_path) == []
    warned = [r.getMessage() for r in caplog.records]
    assert any("field 'region' that no document of cloud.virtual_networks has" in w for w in warned)
    assert any("'subnets.route_table_id'" in w for w in warned)
    assert not any("'id'" in w for w in warned)  # route_tables.id exists
    caplog.clear()
    monkeypatch.delenv("KSPYDER_MONGO_PIPELINES")
    run_pipeline("routes_by_vnet", {"region": "westeurope"})
    assert caplog.records == []


def test_parameters_are_checked_before_running(demo_cloud: Data) -> None:
    with pytest.raises(
        KspyderError, match="Invalid value: 'nope'. Available options: enableAccelerated"
    ):
        run_pipeline("vms_by_option", {"option": "nope"})
    with pytest.raises(KspyderError, match=r"parameter 'since': expected an? int"):
        run_pipeline("cost_by_tag", {"since": "December"})
    with pytest.raises(KspyderError, match=r"unknown parameter\(s\) colour \(declared: region\)"):
        run_pipeline("routes_by_vnet", {"colour": "red"})
    with pytest.raises(KspyderError, match="Invalid pipeline: nope. Available options: cost_by_"):
        get_pipeline("nope")


@pytest.mark.postgres
def test_cost_by_tag_table_in_postgres(
    demo_cloud: Data, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSPYDER_WAREHOUSE", pg_database)
    outputs = run_pipeline("cost_by_tag", {})
    got = _json(outputs[0])
    rows = query(
        pg_database,
        'select "TagValue", "BilledCost", records from aggregates.cost_by_tag '
        'order by "TagValue", "ServiceName", "ChargePeriodStart"',
    )
    assert [(r["TagValue"], r["BilledCost"], r["records"]) for r in got] == [tuple(r) for r in rows]
    run_pipeline("cost_by_tag", {"since": "20251231"})  # replaced whole, not appended
    assert query(pg_database, "select sum(records) from aggregates.cost_by_tag")[0][0] == 40
