"""The run summary: one table for the terminal, a Markdown artifact, and ledger rows.

The ledger (``kspyder_meta._kspyder_runs``, one row per model per run) lets analysts see
freshness from their BI tool.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from extract.secrets import redact
from extract.status import is_failure
from extract.warehouse import Warehouse

LEDGER_SCHEMA = "kspyder_meta"
LEDGER_TABLE = "_kspyder_runs"
LEDGER_COLUMNS = {
    "run_id": "text",
    "flow": "text",
    "started_at": "timestamp",
    "finished_at": "timestamp",
    "stage": "text",
    "source": "text",
    "model": "text",
    "status": "text",
    "rows_loaded": "bigint",
    "duration_s": "double precision",
    "retries": "bigint",
    "pages": "bigint",
    "requests": "bigint",
    "pii_dropped": "bigint",
    "pii_hashed": "bigint",
    "pii_masked": "bigint",
    "load_id": "text",
    "error": "text",
}


@dataclass
class RunSummary:
    """Everything a run did, stage by stage; failures keep the order they happened in."""

    run_id: str
    flow: str = "elt"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    models: list[dict[str, Any]] = field(default_factory=list)
    transform: dict[str, Any] | None = None
    aggregates: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def finish(self) -> RunSummary:
        """Stamp the end time and collect failures in stage order: extract, dbt, aggregate,
        report; warnings (models with status ``warn``) are listed but do not fail the run."""
        self.finished_at = datetime.now(UTC).isoformat()
        failures = [
            f"extract {m['source']}.{m['model']}: {m.get('error')}"
            for m in self.models
            if is_failure(m["status"])
        ]
        self.warnings = [
            redact(f"extract {m['source']}.{m['model']}: {w}")
            for m in self.models
            for w in m.get("warnings") or []
        ]
        if self.transform and self.transform["status"] != "ok":
            detail = "; ".join(self.transform.get("failures", [])[:5])
            failures.append(f"dbt build: {detail or 'failed'}")
        failures += [
            f"aggregate {a['pipeline']}: {a.get('error')}"
            for a in self.aggregates
            if a["status"] != "ok"
        ]
        if self.report and self.report["status"] == "failed":
            failures.append(f"report: {self.report.get('error')}")
        self.failures = [redact(f) for f in failures]
        return self

    @property
    def ok(self) -> bool:
        """True when no stage failed."""
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def models_table(summary: RunSummary) -> Table:
    """Per model: rows, seconds, retries, pages/requests, PII handled."""
    table = Table(title=f"kspyder run {summary.run_id}: extract and load")
    heads = ("source", "model", "status", "rows", "sec", "retries", "pages/req", "pii d/h/m")
    for head in heads:
        table.add_column(head, justify="right" if head in ("rows", "sec", "retries") else "left")
    for m in summary.models:
        status = STATUS_STYLE.get(m["status"], "[red]{}[/red]").format(m["status"])
        pages = f"{m['pages']}/{m['requests']}" if "requests" in m else "-"
        table.add_row(
            m["source"],
            m["model"],
            status,
            rows_cell(m),
            f"{m['duration_s']:.1f}",
            str(m.get("retries", 0)),
            pages,
            f"{m.get('pii_dropped', 0)}/{m.get('pii_hashed', 0)}/{m.get('pii_masked', 0)}",
        )
    return table


STATUS_STYLE = {"ok": "[green]{}[/green]", "warn": "[yellow]{}[/yellow]"}


def rows_cell(m: dict[str, Any]) -> str:
    """Rows kept; ``kept (of received)`` when merge kept fewer than the source sent."""
    received = m.get("rows_received") or m["rows"]
    if received != m["rows"]:
        return f"{m['rows']:,} (of {received:,})"
    return f"{m['rows']:,}"


def stages_lines(summary: RunSummary) -> list[str]:
    """Warnings, dbt and aggregation lines under the table, then the verdict."""
    lines = [f"warning: {w}" for w in summary.warnings]
    t = summary.transform
    if t:
        lines.append(
            f"dbt build: {t['status']}, {t['models_built']} models built, "
            f"{t['tests_passed']} tests passed, {t['tests_failed']} failed ({t['duration_s']:.1f}s)"
        )
    for a in summary.aggregates:
        where = ", ".join(a["outputs"]) if a["status"] == "ok" else a.get("error")
        lines.append(f"aggregate {a['pipeline']}: {a['status']} -> {where}")
    r = summary.report
    if r and r["status"] != "skipped":
        lines.append(f"report: {r['status']} -> {r['path'] if r['status'] == 'ok' else r['error']}")
    if summary.ok:
        warned = f" with {len(summary.warnings)} warning(s)" if summary.warnings else ""
        lines.append(f"run succeeded{warned}")
    else:
        lines.append(f"run FAILED: first failure: {summary.failures[0]}")
    return lines


def markdown(summary: RunSummary) -> str:
    """The summary as Markdown, for a Prefect artifact."""
    rows = [
        "| source | model | status | rows | seconds | retries | pages | requests | pii d/h/m |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in summary.models:
        rows.append(
            f"| {m['source']} | {m['model']} | {m['status']} | {rows_cell(m)} | "
            f"{m['duration_s']:.1f} | {m.get('retries', 0)} | {m.get('pages', '')} | "
            f"{m.get('requests', '')} | {m.get('pii_dropped', 0)}/{m.get('pii_hashed', 0)}/"
            f"{m.get('pii_masked', 0)} |"
        )
    text = "\n".join([f"# kspyder run {summary.run_id}", "", *rows, "", *stages_lines(summary)])
    return redact(text)


def ledger_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """One row per model (and one per later stage) for ``_kspyder_runs``."""
    base = {
        "run_id": summary.run_id,
        "flow": summary.flow,
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
    }
    rows = []
    for m in summary.models:
        rows.append(
            {
                **base,
                "stage": "extract",
                "source": m["source"],
                "model": m["model"],
                "status": m["status"],
                "rows_loaded": m["rows"],
                "duration_s": m["duration_s"],
                "retries": m.get("retries", 0),
                "pages": m.get("pages"),
                "requests": m.get("requests"),
                "pii_dropped": m.get("pii_dropped", 0),
                "pii_hashed": m.get("pii_hashed", 0),
                "pii_masked": m.get("pii_masked", 0),
                "load_id": m.get("load_id"),
                "error": m.get("error") or "; ".join(m.get("warnings") or []) or None,
            }
        )
    if summary.transform:
        t = summary.transform
        rows.append(
            {
                **base,
                "stage": "transform",
                "model": "dbt build",
                "status": t["status"],
                "rows_loaded": t["models_built"],
                "duration_s": t["duration_s"],
                "error": json.dumps(t["failures"]) if t["failures"] else None,
            }
        )
    return rows


def write_ledger(summary: RunSummary, warehouse: Warehouse) -> int:
    """Append the run's rows to the ledger table (created if missing); returns rows written."""
    rows = ledger_rows(summary)
    if warehouse.kind == "files" or not rows:
        return 0
    cols = list(LEDGER_COLUMNS)
    ddl = ", ".join(f"{c} {t}" for c, t in LEDGER_COLUMNS.items())
    values = [tuple(r.get(c) for c in cols) for r in rows]
    target = f"{LEDGER_SCHEMA}.{LEDGER_TABLE}"
    marks = ", ".join("?" for _ in cols)
    with warehouse.connect() as db:
        db.execute(f"create schema if not exists {LEDGER_SCHEMA}")
        db.execute(f"create table if not exists {target} ({ddl})")
        db.executemany(f"insert into {target} ({', '.join(cols)}) values ({marks})", values)
    return len(rows)
