"""``kspyder report``: one static, offline HTML report of the cloud estate.

``write_report()`` reads the documents database (``cloud`` by default) and writes
``<outputs>/report/index.html``: a topology diagram per virtual network (subnets, route
tables, routes, next hops), VMs by NIC option and the VMs whose NICs disagree, and FinOps
charts (cost per tag per month, per service, top resources). Its JavaScript is inlined:
the file opens from disk with no network.
"""

from __future__ import annotations

from pathlib import Path

from extract import project
from extract.errors import KspyderError
from transform.report.data import ReportData, collect
from transform.report.page import render

__all__ = ["ReportData", "collect", "has_estate", "render", "write_report"]


def has_estate(database: str = "cloud") -> bool:
    """True when the documents database holds virtual networks to draw."""
    from extract import mongo

    return bool(mongo.collection_counts(database).get("virtual_networks"))


def write_report(database: str = "cloud", tag: str = "CostCenter", top: int = 10) -> Path:
    """Write the report and return its path; fails when the database holds no network."""
    if not has_estate(database):
        raise KspyderError(
            f"no virtual networks in the documents database '{database}': "
            "load it first (kspyder documents load cloud)"
        )
    data = collect(database, tag, top)
    folder = project.report_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    path.write_text(render(data), encoding="utf-8")
    return path
