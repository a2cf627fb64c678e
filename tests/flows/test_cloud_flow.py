"""End to end: demo ARM API -> manifests/cloud.yml -> MongoDB -> the pipelines, via the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from demo import cloud
from demo.api import DemoApi
from extract import mongo
from extract.manifest.typing import IdNormalization
from extract.rest.records import normalize_ids
from flows.cli import build_app
from tests.helpers.cloud import CLOUD_MODELS, costs_by, routes, vms_by

app = build_app()

runner = CliRunner()


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _written(output: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, where in re.findall(r"^(\w+) -> (.+)$", output, re.M):
        found.setdefault(name, []).append(where)
    return found


def test_cloud_documents_load_and_aggregate(cloud_api: DemoApi) -> None:
    served = {name: getattr(cloud, name)() for name in CLOUD_MODELS}
    first = _invoke("documents", "load", "cloud")
    assert first.exit_code == 0, first.output
    counts = {name: len(docs) for name, docs in served.items()}
    assert mongo.collection_counts("cloud") == counts
    vm = normalize_ids(cloud.vms()[7], IdNormalization())  # stored whole, ids lower-cased
    assert {"CostCenter", "Cost Center"} <= set(vm["tags"])
    assert mongo.read_document("cloud", "vms", vm["id"]) == {"_id": vm["id"], **vm}

    again = _invoke("documents", "load", "cloud")
    assert again.exit_code == 0
    assert mongo.collection_counts("cloud") == counts
    status = _invoke("documents", "status", "cloud")
    assert "3,600" in status.output

    run = _invoke("aggregate", "run")
    assert run.exit_code == 0, run.output
    written = _written(run.output)
    assert sorted(written) == [
        "cost_by_resource", "cost_by_tag", "nic_disagreements", "routes_by_vnet", "vms_by_option"
    ]  # fmt: skip
    routes_json = json.loads(Path(written["routes_by_vnet"][0]).read_text())
    assert routes_json == routes(served)
    vms_json = json.loads(Path(written["vms_by_option"][0]).read_text())
    assert vms_json == vms_by(served, "enableAcceleratedNetworking")
    cost_json = json.loads(Path(written["cost_by_tag"][0]).read_text())
    sums = costs_by(served, "CostCenter")
    got = {
        (r["TagValue"], r["ServiceName"], r["ChargePeriodStart"]): r["records"] for r in cost_json
    }
    assert got == {k: n for k, (_, n) in sums.items()}
    assert written["cost_by_tag"][2].endswith("aggregates.cost_by_tag")

    option = _invoke("aggregate", "run", "vms_by_option", "--param", "option=enableIPForwarding")
    assert option.exit_code == 0, option.output
    path = _written(option.output)["vms_by_option"][0]
    assert json.loads(Path(path).read_text()) == vms_by(served, "enableIPForwarding")


def test_cloud_load_survives_throttling_expiry_and_cost_paging(cloud_api: DemoApi) -> None:
    """429s (ARM and Cost Management's own header) and a token revoked mid-walk: still exact."""
    subs = cloud.subscriptions()
    cloud_api.add_fault(f"{subs[1]['id']}/providers/Microsoft.Compute", "status", status=429,
                        retry_after=1)  # fmt: skip
    cloud_api.add_fault(f"{subs[2]['id']}/providers/Microsoft.Network/networkInterfaces",
                        "expire_token")  # fmt: skip
    cloud_api.add_fault(f"{subs[0]['id']}/providers/Microsoft.CostManagement", "qpu",
                        retry_after=1)  # fmt: skip
    result = _invoke("documents", "load", "cloud")
    assert result.exit_code == 0, result.output
    assert mongo.collection_counts("cloud") == {n: len(getattr(cloud, n)()) for n in CLOUD_MODELS}
    assert cloud_api.faults.pending() == []
    bodies = cloud_api.arm.cost_bodies
    assert len(bodies) > 4
    assert all(b == bodies[0] for b in bodies)
    tokens = [p for _, m, p in cloud_api.stats() if m == "POST" and "oauth2" in p]
    assert len(tokens) == len(CLOUD_MODELS) + 1  # one per model's build, one refresh


def test_aggregate_command_options() -> None:
    tests = _invoke("aggregate", "test")
    assert tests.exit_code == 0, tests.output
    assert tests.output.count("passed") == 5, tests.output
    listed = _invoke("aggregate", "list")
    assert "cloud.virtual_networks" in listed.output
    assert "region:string=None" in listed.output
    bad = _invoke("aggregate", "run", "vms_by_option", "-p", "option=colour")
    assert bad.exit_code == 1
    assert "Invalid value: 'colour'. Available options" in bad.output
    stray = _invoke("aggregate", "run", "routes_by_vnet", "vms_by_option", "-p", "tag=env")
    assert stray.exit_code == 1
    assert "tag not declared by routes_by_vnet, vms_by_option" in (stray.output)
    malformed = _invoke("aggregate", "run", "-p", "novalue")
    assert malformed.exit_code == 1
    assert "is not name=value" in malformed.output
    unknown = _invoke("aggregate", "run", "nope")
    assert unknown.exit_code == 1
    assert "Invalid pipeline(s): nope. Available options" in unknown.output
    for sub in ("list", "test"):
        assert _invoke("aggregate", sub, "nope").exit_code == 1
    assert _invoke("aggregate", "explain", "nope").exit_code == 1
    usage = _invoke("aggregate")
    assert all(sub in usage.output for sub in ("run", "list", "test", "explain"))


def _plans(plan: Any) -> Iterator[dict[str, Any]]:
    """Every ``queryPlanner`` section of an explain output, wherever the server nests it."""
    if isinstance(plan, dict):
        if "queryPlanner" in plan:
            yield plan["queryPlanner"]
        for value in plan.values():
            yield from _plans(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _plans(value)


def test_explain_prints_the_servers_plan(demo_cloud: dict[str, Any]) -> None:
    explain = _invoke("aggregate", "explain", "cost_by_tag", "-p", "since=20251101")
    assert explain.exit_code == 0, explain.output
    planners = list(_plans(json.loads(explain.output)))
    assert planners
    assert {p["namespace"] for p in planners} == {"cloud.costs"}
    assert planners[0]["winningPlan"]["stage"] == "COLLSCAN"  # $expr: no index can serve it
    mongo.client()["cloud"]["vms"].create_index("name")
    by_name = mongo.explain("cloud", "vms", [{"$match": {"name": "vm-001"}}])
    winning = next(_plans(by_name))["winningPlan"]
    assert "IXSCAN" in json.dumps(winning), winning


def test_validate_checks_the_pipelines_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _invoke("validate").exit_code == 0
    (tmp_path / "broken.yml").write_text(
        "description: d\ndatabase: cloud\ncollection: vms\nstages:\n  - $where: x\n"
    )
    monkeypatch.setenv("KSPYDER_MONGO_PIPELINES", str(tmp_path))
    result = _invoke("validate")
    assert result.exit_code == 2
    assert "broken.yml:5 stages.0.$where: server-side JavaScript ($where) is refused" in " ".join(
        result.output.split()
    )


def test_documents_load_refuses_warehouse_sources(manifests_dir: Path) -> None:
    (manifests_dir / "wh.yml").write_text(
        "kind: rest\nclient: {base_url: 'http://x'}\nmodels: [a]\n"
    )
    result = _invoke("documents", "load", "wh")
    assert result.exit_code == 1
    assert "not document sources" in result.output
