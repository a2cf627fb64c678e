"""What the report shows, read from the documents database: topology, options, costs.

Topology comes from the documents as stored (ids lower-cased at load, so references
resolve); option and cost figures come from the shipped aggregation pipelines, so the
report and ``kspyder aggregate`` never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from extract import mongo
from transform.aggregate import get_pipeline, stages_for

NIC_OPTIONS = {"enableAcceleratedNetworking": "Accelerated networking",
               "enableIPForwarding": "IP forwarding"}  # fmt: skip
Element = dict[str, Any]


@dataclass
class ReportData:
    """Everything the page needs, as plain JSON-ready values."""

    vnets: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    cost_by_tag: list[dict[str, Any]] = field(default_factory=list)
    top_resources: list[dict[str, Any]] = field(default_factory=list)
    tag: str = "CostCenter"
    counts: dict[str, int] = field(default_factory=dict)


def run(name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of one shipped pipeline, computed in memory (no outputs written)."""
    pipeline = get_pipeline(name)
    return mongo.aggregate(pipeline.database, pipeline.collection, stages_for(pipeline, params))


def collect(database: str = "cloud", tag: str = "CostCenter", top: int = 10) -> ReportData:
    """Read the estate and the pipeline results the report draws."""
    tables = {t["id"].lower(): t for t in mongo.find(database, "route_tables")}
    vnets = sorted(mongo.find(database, "virtual_networks"), key=lambda v: v["name"])
    return ReportData(
        vnets=[topology(v, tables) for v in vnets],
        options={o: run("vms_by_option", {"option": o}) for o in NIC_OPTIONS},
        disagreements=run("nic_disagreements"),
        cost_by_tag=run("cost_by_tag", {"tag": tag}),
        top_resources=run("cost_by_resource", {"top": top}),
        tag=tag,
        counts=mongo.collection_counts(database),
    )


def _hop(route: dict[str, Any]) -> tuple[str, str]:
    props = route.get("properties", {})
    kind = str(props.get("nextHopType", "None"))
    ip = props.get("nextHopIpAddress")
    return (f"hop:{kind}:{ip}" if ip else f"hop:{kind}"), (f"{kind}\n{ip}" if ip else kind)


def topology(vnet: dict[str, Any], tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cytoscape elements of one vnet: subnets, their route tables, routes and next hops."""
    props = vnet.get("properties", {})
    prefixes = props.get("addressSpace", {}).get("addressPrefixes", [])
    nodes: dict[str, Element] = {
        "vnet": {"data": {"id": "vnet", "label": f"{vnet['name']}\n{', '.join(prefixes)}"},
                 "classes": "vnet"},
    }  # fmt: skip
    edges: list[Element] = []
    hops: dict[str, int] = defaultdict(int)
    for subnet in props.get("subnets", []):
        sid = f"subnet:{subnet['name']}"
        prefix = subnet.get("properties", {}).get("addressPrefix", "")
        nodes[sid] = {"data": {"id": sid, "label": f"{subnet['name']}\n{prefix}"},
                      "classes": "subnet"}  # fmt: skip
        edges.append({"data": {"source": "vnet", "target": sid}})
        ref = subnet.get("properties", {}).get("routeTable", {}).get("id")
        table = tables.get(str(ref).lower()) if ref else None
        if table is None:
            continue
        tid = f"rt:{table['name']}"
        edges.append({"data": {"source": sid, "target": tid}})
        if tid in nodes:
            continue
        nodes[tid] = {"data": {"id": tid, "label": table["name"]}, "classes": "routetable"}
        for route in table.get("properties", {}).get("routes", []):
            rid = f"{tid}/{route['name']}"
            prefix = route.get("properties", {}).get("addressPrefix", "")
            nodes[rid] = {"data": {"id": rid, "label": f"{route['name']}\n{prefix}"},
                          "classes": "route"}  # fmt: skip
            edges.append({"data": {"source": tid, "target": rid}})
            hop_id, hop_label = _hop(route)
            kind = hop_id.split(":")[1]
            nodes.setdefault(hop_id, {"data": {"id": hop_id, "label": hop_label},
                                      "classes": f"hop hop-{kind}"})  # fmt: skip
            edges.append({"data": {"source": rid, "target": hop_id}})
            hops[kind] += 1
    for i, edge in enumerate(edges):
        edge["data"]["id"] = f"e{i}"
    return {
        "id": vnet["id"],
        "name": vnet["name"],
        "location": vnet.get("location"),
        "subnets": len(props.get("subnets", [])),
        "routes": sum(hops.values()),
        "hops": dict(sorted(hops.items())),
        "elements": [*nodes.values(), *edges],
    }


def cost_series(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[float]]]:
    """Months and, per tag value, the billed cost of each month (all services summed)."""
    months = sorted({r["ChargePeriodStart"] for r in rows})
    sums: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(months, 0.0))
    for r in rows:
        sums[str(r["TagValue"])][r["ChargePeriodStart"]] += r["BilledCost"]
    return months, {k: [round(v[m], 2) for m in months] for k, v in sorted(sums.items())}


def service_series(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[float]]]:
    """Months and, per service, the billed cost of each month."""
    renamed = [{**r, "TagValue": r["ServiceName"]} for r in rows]
    return cost_series(renamed)
