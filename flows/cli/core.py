"""The ``kspyder`` command line: one-shot activities (list, validate, extract, preview, rebuild).

Every command loads and validates the manifests first, so bad configuration stops it
before anything is extracted. Other command groups live beside this module in ``flows/cli/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from extract import project
from extract.errors import KspyderError
from extract.manifest.loader import load_manifests
from extract.status import is_failure
from extract.warehouse import FileFormat
from flows.cli import tables as report
from flows.cli.common import (
    FullRefreshOpt,
    ModelOpt,
    SourcesArg,
    WarehouseOpt,
    console,
    fail,
    out,
)

app = typer.Typer()  # this module's commands; flows.cli.build_app composes them


@app.command("list")
def list_sources() -> None:
    """List sources and their models, kind and target."""
    try:
        sources = load_manifests()
    except KspyderError as exc:
        fail(exc)
    out.print(report.sources_table(sources))


@app.command()
def validate(
    path: Annotated[Path | None, typer.Option(help="Manifests folder")] = None,
    strict: Annotated[
        bool, typer.Option(help="Unset ${ENV} values (runtime secrets) are errors too")
    ] = False,
) -> None:
    """Validate every manifest (and every Mongo pipeline); exit 2 on any problem.

    Unset ``${ENV}`` references are listed as what a run will need, errors with --strict.
    """
    from extract.manifest.loader import missing_env

    try:
        sources = load_manifests(path, validate_env=strict)
        _validate_pipelines()
        needed = [] if strict else missing_env(path)
    except KspyderError as exc:
        fail(exc)
    out.print(f"{len(sources)} manifest(s) valid: {', '.join(sources)}")
    if needed:
        out.print("a run will need these environment variables (--strict makes them errors):")
        for problem in needed:
            out.print(f"  {problem}", highlight=False)


def _validate_pipelines() -> None:
    from transform.aggregate import load_pipelines

    load_pipelines()


@app.command()
def schema(
    check: Annotated[bool, typer.Option(help="Fail if the committed file is stale")] = False,
) -> None:
    """Regenerate manifests/manifest.schema.json from the typed schema."""
    from extract.manifest.schema import schema_text

    target = project.schema_file()
    text = schema_text()
    if check:
        if not target.exists() or target.read_text() != text:
            console.print(f"{target} is stale: run `kspyder schema`")
            raise typer.Exit(1)
        out.print(f"{target} is up to date")
        return
    target.write_text(text)
    out.print(f"wrote {target}")


@app.command()
def extract(
    sources: SourcesArg = None,
    model: ModelOpt = None,
    full_refresh: FullRefreshOpt = False,
    warehouse: WarehouseOpt = None,
    to: Annotated[FileFormat | None, typer.Option(help="Write local files instead")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for --to")] = None,
) -> None:
    """Extract and load sources into the warehouse (or local files with --to)."""
    from extract.load import extract_source
    from extract.warehouse import resolve

    try:
        selected = load_manifests(only=sources or None)
        target = resolve(warehouse, to, out_dir)
        if model and len(selected) != 1:
            raise KspyderError("--model needs exactly one source")
    except KspyderError as exc:
        fail(exc)
    results = []
    try:
        with report.progress(console) as tick:
            for source in selected.values():
                if source.target == "documents" and not to:
                    from extract.documents import load_documents

                    results += load_documents(source, model or None, full_refresh, on_model=tick)
                    continue
                results += extract_source(
                    source, target, model or None, full_refresh, on_model=tick
                )
    except KspyderError as exc:  # busy source, another HMAC key: one line, no traceback
        fail(exc)
    out.print(report.results_table(results, f"extract -> {target.display}"))
    failed = [r for r in results if is_failure(r.status)]
    for r in failed:
        console.print(f"[red]failed[/red] extract {r.source}.{r.model}: {r.error}", highlight=False)
    raise typer.Exit(1 if failed else 0)


@app.command()
def preview(
    source: Annotated[str, typer.Argument()],
    model: Annotated[str, typer.Argument()],
    limit: Annotated[int, typer.Option(help="Records to print")] = 10,
) -> None:
    """Print a model's first records as JSON lines; nothing is loaded."""
    from extract.preview import preview_records

    try:
        src = load_manifests(only=[source])[source]
        for record in preview_records(src, model, limit):
            sys.stdout.write(json.dumps(record, default=str) + "\n")
    except KspyderError as exc:
        fail(exc)


@app.command()
def rebuild(sources: SourcesArg = None, warehouse: WarehouseOpt = None) -> None:
    """Drop each source's schema and local state, then load it again from the source."""
    from extract.load import extract_source
    from extract.rebuild import drop_source
    from extract.warehouse import resolve

    try:
        selected = load_manifests(only=sources or None)
        target = resolve(warehouse)
    except KspyderError as exc:
        fail(exc)
    results = []
    with report.progress(console) as tick:
        for source in selected.values():
            if source.target == "documents":
                from extract.documents import rebuild_documents

                results += rebuild_documents(source, on_model=tick)
                continue
            drop_source(source, target)
            results += extract_source(source, target, on_model=tick)
    out.print(report.results_table(results, f"rebuild -> {target.display}"))
    raise typer.Exit(1 if any(is_failure(r.status) for r in results) else 0)
