"""The demo cloud estate in MongoDB, and plain-Python answers the demo pipelines must match.

The Python side joins ids case-insensitively on the documents as the API serves them (mixed
case), so a pipeline that forgot the id normalisation disagrees with it.
"""

from __future__ import annotations

import copy
import math
from collections import Counter, defaultdict
from typing import Any

import pytest

from demo import cloud
from extract import mongo, project
from extract.manifest.loader import parse_source
from extract.rest.records import normalized

Data = dict[str, list[dict[str, Any]]]
NIC_OPTIONS = {"accelerated_networking": "enableAcceleratedNetworking",
               "ip_forwarding": "enableIPForwarding"}  # fmt: skip


def by_id(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Documents by lower-cased id (ARM ids are case-insensitive)."""
    return {d["id"].lower(): d for d in docs}


def routes(served: Data, region: str | None = None) -> list[dict[str, Any]]:
    tables = by_id(served["route_tables"])
    rows = [
        {
            "vnet": v["name"],
            "region": v["location"],
            "subnet": s["name"],
            "subnet_prefix": s["properties"]["addressPrefix"],
            "route_table": table["name"],
            "route": r["name"],
            "address_prefix": r["properties"]["addressPrefix"],
            "next_hop_type": r["properties"]["nextHopType"],
            "next_hop_ip": r["properties"].get("nextHopIpAddress"),
        }
        for v in served["virtual_networks"]
        if region is None or v["location"] == region
        for s in v["properties"]["subnets"]
        if "routeTable" in s["properties"]
        for table in [tables[s["properties"]["routeTable"]["id"].lower()]]
        for r in table["properties"]["routes"]
    ]
    return sorted(rows, key=lambda r: (r["vnet"], r["subnet"], r["route"]))


def vm_nics(served: Data) -> dict[str, list[dict[str, Any]]]:
    """Each VM's NIC documents, by VM name, sorted by NIC name."""
    nics = by_id(served["network_interfaces"])
    return {
        vm["name"]: sorted(
            (
                nics[ref["id"].lower()]
                for ref in vm["properties"]["networkProfile"]["networkInterfaces"]
            ),
            key=lambda n: n["name"],
        )
        for vm in served["vms"]
    }


def vms_by(served: Data, option: str) -> list[dict[str, Any]]:
    values: dict[str, str] = {}
    for name, nics in vm_nics(served).items():
        seen = {n["properties"][option] for n in nics}
        values[name] = "mixed" if len(seen) > 1 else "enabled" if True in seen else "disabled"
    counts = Counter(values.values())
    return [
        {"option": option, "value": value, "vms": counts[value],
         "names": sorted(n for n, v in values.items() if v == value)}
        for value in sorted(counts)
    ]  # fmt: skip


def disagreements(served: Data) -> list[dict[str, Any]]:
    rows = []
    for name, nics in sorted(vm_nics(served).items()):
        listed = [{"nic": n["name"], **{k: n["properties"][p] for k, p in NIC_OPTIONS.items()}}
                  for n in nics]  # fmt: skip
        differs = {f"{k}_differs": len({n[k] for n in listed}) > 1 for k in NIC_OPTIONS}
        if any(differs.values()):
            rows.append({"vm": name, "nics": listed, **differs})
    return rows


def resources(served: Data) -> dict[str, dict[str, Any]]:
    return by_id(served["vms"]) | by_id(served["virtual_networks"])


def costs_by(served: Data, tag: str, since: int = 0) -> dict[tuple[str, str, str], Any]:
    known = resources(served)
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for c in served["costs"]:
        if c["UsageDate"] >= since:
            found = known.get(c["ResourceId"].lower())
            value = found["tags"].get(tag, "(untagged)") if found else "(untagged)"
            day = str(c["UsageDate"])
            sums[(value, c["ServiceName"], f"{day[:4]}-{day[4:6]}-01")].append(c["PreTaxCost"])
    return {k: (math.fsum(v), len(v)) for k, v in sums.items()}


def top_resources(served: Data, top: int) -> list[tuple[str, str | None, float]]:
    totals: dict[str, list[float]] = defaultdict(list)
    for c in served["costs"]:
        totals[c["ResourceId"].lower()].append(c["PreTaxCost"])
    known = resources(served)
    ranked = sorted(totals.items(), key=lambda kv: (-math.fsum(kv[1]), kv[0]))[:top]
    return [(rid, known[rid]["name"] if rid in known else None, math.fsum(v)) for rid, v in ranked]


def expected_topology(served: Data) -> dict[str, tuple[int, int]]:
    """(nodes, edges) per vnet, counted from the served documents."""
    tables = by_id(served["route_tables"])
    result = {}
    for vnet in served["virtual_networks"]:
        subnets = vnet["properties"]["subnets"]
        used = {s["properties"]["routeTable"]["id"].lower() for s in subnets
                if "routeTable" in s["properties"]}  # fmt: skip
        routes = [r for t in used for r in tables[t]["properties"]["routes"]]
        hops = {(r["properties"]["nextHopType"], r["properties"].get("nextHopIpAddress"))
                for r in routes}  # fmt: skip
        linked = sum("routeTable" in s["properties"] for s in subnets)
        nodes = 1 + len(subnets) + len(used) + len(routes) + len(hops)
        edges = len(subnets) + linked + 2 * len(routes)
        result[vnet["name"]] = (nodes, edges)
    return result


CLOUD_MODELS = ("subscriptions", "virtual_networks", "route_tables", "network_interfaces",
                "vms", "costs")  # fmt: skip


def load_demo_estate(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """The full demo estate as the ARM API serves it (mixed-case references), loaded into the
    embedded database ``cloud`` with the id normalisation that manifests/cloud.yml declares.
    Returns the served (not normalised) documents."""
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.setenv(name, "unused")
    models = parse_source(project.ROOT / "manifests" / "cloud.yml").models
    served = {name: getattr(cloud, name)() for name in CLOUD_MODELS}
    for name, docs in served.items():
        stored = normalized(copy.deepcopy(docs), models[name].normalize_ids)
        mongo.bulk_upsert("cloud", name, stored, models[name].primary_key)
    return served
