"""The report as one self-contained HTML file: data as JSON, libraries inlined, no network.

plotly.js comes from the plotly wheel (``plotly.offline.get_plotlyjs()``); Cytoscape.js is
vendored under ``static/`` with its licence. Charts are plotly figures serialised to JSON
and drawn by ``static/report.js``, which also draws one Cytoscape diagram per virtual network.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from transform.report.data import NIC_OPTIONS, ReportData, cost_series, service_series

HOP_LEGEND = {"VirtualAppliance": "#d9480f", "Internet": "#1971c2", "VnetLocal": "#2f9e44",
              "VirtualNetworkGateway": "#7048e8", "None": "#868e96"}  # fmt: skip


def static(name: str) -> str:
    """A file shipped in ``transform/report/static``."""
    return resources.files("transform.report").joinpath("static", name).read_text("utf-8")


def _safe(text: str) -> str:
    """JSON text safe inside a ``<script>`` element."""
    return text.replace("</", "<\\/")


def _script_json(value: Any) -> str:
    return _safe(json.dumps(value, separators=(",", ":")))


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 60, "r": 20, "t": 40,
            "b": 60}, "legend": {"orientation": "h", "y": -0.2}, **extra}  # fmt: skip


def figures(data: ReportData) -> dict[str, go.Figure]:
    """The charts, by element id."""
    months, by_tag = cost_series(data.cost_by_tag)
    _, by_service = service_series(data.cost_by_tag)
    currency = next((r["BillingCurrency"] for r in data.cost_by_tag), "")
    charts = {
        "chart-cost-by-tag": _monthly(f"Billed cost per {data.tag} per month ({currency})",
                                      months, by_tag),
        "chart-cost-by-service": _monthly(f"Billed cost per service per month ({currency})",
                                          months, by_service),
    }  # fmt: skip
    top = list(reversed(data.top_resources))
    charts["chart-top-resources"] = go.Figure(
        [go.Bar(name="BilledCost", orientation="h", x=[r["BilledCost"] for r in top],
                y=[r["ResourceName"] or r["ResourceId"].rsplit("/", 1)[-1] for r in top])],
        _layout(f"Top {len(top)} resources by billed cost ({currency})", margin={"l": 170}),
    )  # fmt: skip
    values = ["enabled", "disabled", "mixed"]
    charts["chart-options"] = go.Figure(
        [
            go.Bar(name=value, x=list(NIC_OPTIONS.values()),
                   y=[_vms(data.options[o], value) for o in NIC_OPTIONS])
            for value in values
        ],
        _layout("VMs by NIC option (mixed = the VM's NICs disagree)", barmode="group"),
    )  # fmt: skip
    return charts


def _monthly(title: str, months: list[str], series: dict[str, list[float]]) -> go.Figure:
    """Stacked bars of one series per key over the months (ChargePeriodStart)."""
    return go.Figure(
        [go.Bar(name=k, x=months, y=v) for k, v in series.items()],
        _layout(title, barmode="stack",
                xaxis={"type": "category", "title": {"text": "ChargePeriodStart"}}),
    )  # fmt: skip


def _vms(rows: list[dict[str, Any]], value: str) -> int:
    return sum(int(r["vms"]) for r in rows if r["value"] == value)


def _chart_blocks(charts: dict[str, go.Figure]) -> tuple[str, str]:
    divs = "".join(f'<div class="chart" id="{cid}"></div>' for cid in charts)
    specs = "".join(
        f'<script type="application/json" class="chart-spec" data-target="{cid}">'
        f"{_safe(fig.to_json())}</script>"
        for cid, fig in charts.items()
    )
    return divs, specs


def _disagreements(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(r["vm"]),
            html.escape(", ".join(f"{n['nic']} ({'on' if n['accelerated_networking'] else 'off'}"
                                  f"/{'on' if n['ip_forwarding'] else 'off'})" for n in r["nics"])),
            "yes" if r["accelerated_networking_differs"] else "",
            "yes" if r["ip_forwarding_differs"] else "",
        )
        for r in rows
    )  # fmt: skip
    head = ("<tr><th>VM</th><th>NICs (accelerated / IP forwarding)</th>"
            "<th>accelerated differs</th><th>IP forwarding differs</th></tr>")  # fmt: skip
    return f'<table id="disagreements">{head}{body}</table>'


def render(data: ReportData, title: str = "kspyder cloud report") -> str:
    """The whole page."""
    divs, specs = _chart_blocks(figures(data))
    counts = ", ".join(
        f"{v:,} {k}" for k, v in sorted(data.counts.items()) if not k.startswith("_")
    )
    legend = "".join(f'<span style="background:{c}">{html.escape(k)}</span>'
                     for k, c in HOP_LEGEND.items())  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{static("report.css")}</style></head>
<body>
<header><h1>{html.escape(title)}</h1><p>{html.escape(counts)}</p></header>
<main>
<section><h2>FinOps</h2><div class="charts">{divs}</div></section>
<section><h2>Topology: {len(data.vnets)} virtual networks</h2>
<p class="legend">next hops: {legend}</p><div id="topology"></div></section>
<section><h2>Option propagation: VMs whose NICs disagree ({len(data.disagreements)})</h2>
<div class="scroll">{_disagreements(data.disagreements)}</div></section>
</main>
<pre id="render-status"></pre>
<script type="application/json" id="topology-data">{_script_json(data.vnets)}</script>
{specs}
<script>{get_plotlyjs()}</script>
<script>{static("cytoscape.min.js")}</script>
<script>{static("report.js")}</script>
</body></html>
"""
