"""Progress display and summary tables for the command line (rich)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from flows.summary import STATUS_STYLE, rows_cell

if TYPE_CHECKING:
    from extract.load import ModelResult
    from extract.manifest.typing import Source


def sources_table(sources: dict[str, Source]) -> Table:
    """Sources, their models, kind and target."""
    table = Table(title="kspyder sources")
    for col in ("source", "kind", "target", "model", "write", "primary key", "incremental", "pii"):
        table.add_column(col)
    for source in sources.values():
        for model in source.models.values():
            pii = ", ".join(f"{c}:{col.pii}" for c, col in model.columns.items() if col.pii)
            table.add_row(
                source.name,
                source.kind,
                source.target,
                model.name,
                model.write_disposition,
                ",".join(model.primary_key),
                model.incremental.cursor if model.incremental else "",
                pii,
            )
    return table


def results_table(results: Sequence[ModelResult], title: str) -> Table:
    """Per model: status, rows, duration, PII handled at extraction, where it went."""
    table = Table(title=title)
    for col in ("source", "model", "status", "rows", "seconds", "pii dropped/hashed", "where"):
        table.add_column(col, justify="right" if col in ("rows", "seconds") else "left")
    for r in results:
        status = STATUS_STYLE.get(r.status, "[red]{}[/red]").format(r.status)
        table.add_row(
            r.source,
            r.model,
            status,
            rows_cell(r.as_dict()),
            f"{r.duration_s:.1f}",
            f"{r.pii_dropped}/{r.pii_hashed}",
            f"{r.destination} [{r.dataset}]",
        )
    total = sum(r.rows for r in results)
    table.caption = f"{len(results)} model(s), {total:,} rows"
    return table


@contextmanager
def progress(console: Console) -> Iterator[Callable[[ModelResult], None]]:
    """Prints one line per model as it completes (safe for logs and terminals)."""

    def tick(result: ModelResult) -> None:
        mark = {"ok": "ok", "warn": "WARN"}.get(result.status, "FAILED")
        console.print(
            f"  {result.source}.{result.model}: {mark} {result.rows:,} rows "
            f"in {result.duration_s:.1f}s",
            highlight=False,
        )
        for warning in result.warnings:
            console.print(f"    warning: {warning}", highlight=False, markup=False)

    yield tick
