"""``kspyder aggregate run|list|test|explain`` (YAML Mongo pipelines) and ``kspyder documents``
(load, status)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from extract.errors import KspyderError, UnknownValueError
from flows.cli.common import (
    FullRefreshOpt,
    ModelOpt,
    ParamOpt,
    SourcesArg,
    console,
    fail,
    out,
    parse_params,
)

app = typer.Typer()  # this module's commands; flows.cli.build_app composes them

documents_app = typer.Typer(
    help="Document sources (target: documents) in MongoDB.", no_args_is_help=True
)
app.add_typer(documents_app, name="documents")

aggregate_app = typer.Typer(
    help="MongoDB aggregation pipelines declared in mongo_pipelines/: run, list, test, explain.",
    no_args_is_help=True,
)
app.add_typer(aggregate_app, name="aggregate")

NamesArg = Annotated[list[str] | None, typer.Argument(help="Pipelines (default: all)")]


def _selected(names: list[str] | None) -> list[Any]:
    from transform import aggregate as agg

    pipelines = agg.load_pipelines()
    unknown = [n for n in names or [] if n not in pipelines]
    if unknown:
        raise UnknownValueError("pipeline(s)", ", ".join(unknown), list(pipelines))
    return [pipelines[n] for n in names or pipelines]


@aggregate_app.command("run")
def aggregate_run(names: NamesArg = None, param: ParamOpt = None) -> None:
    """Run the pipelines over MongoDB and write their outputs (JSON, CSV, warehouse table)."""
    from transform import aggregate as agg

    try:
        given = parse_params(param)
        selected = {p.name: p for p in _selected(names)}
        per_pipeline = agg.split_params(selected, given)
        for name in selected:
            for where in agg.run_pipeline(name, per_pipeline[name]):
                out.print(f"{name} -> {where}", highlight=False, soft_wrap=True)
    except KspyderError as exc:
        fail(exc)


@aggregate_app.command("list")
def aggregate_list(names: NamesArg = None) -> None:
    """The pipelines: what each reads, its parameters, outputs and whether it has a test."""
    try:
        out.print(_pipelines_table(_selected(names)))
    except KspyderError as exc:
        fail(exc)


@aggregate_app.command("test")
def aggregate_test(names: NamesArg = None) -> None:
    """Run the pipelines' fixture tests (declared input -> expected rows); exit 1 on a failure."""
    try:
        selected = _selected(names)
    except KspyderError as exc:
        fail(exc)
    raise typer.Exit(_run_tests(selected))


@aggregate_app.command("explain")
def aggregate_explain(
    name: Annotated[str, typer.Argument(help="Pipeline")], param: ParamOpt = None
) -> None:
    """Print the server's plan of one pipeline (JSON), with its parameters applied."""
    from transform import aggregate as agg

    try:
        plan = agg.explain_pipeline(name, parse_params(param))
    except KspyderError as exc:
        fail(exc)
    sys.stdout.write(json.dumps(plan, indent=2, default=str) + "\n")


def _run_tests(pipelines: list[Any]) -> int:
    from transform.aggregate import check_fixture

    failed = 0
    for pipeline in pipelines:
        result = check_fixture(pipeline)
        if result is None:
            out.print(f"{pipeline.name}: no test")
        elif result.passed:
            out.print(f"{pipeline.name}: [green]passed[/green] ({len(result.expected)} rows)")
        else:
            failed += 1
            out.print(f"{pipeline.name}: [red]FAILED[/red]")
            out.print_json(json.dumps({"expected": result.expected, "actual": result.actual}))
    return 1 if failed else 0


def _pipelines_table(pipelines: list[Any]) -> Table:
    table = Table(title="kspyder aggregation pipelines")
    for col in ("pipeline", "reads", "params", "outputs", "test"):
        table.add_column(col)
    for p in pipelines:
        params = ", ".join(
            f"{n}:{s.type}" + ("" if s.required else f"={s.default}") for n, s in p.params.items()
        )
        outputs = ", ".join(o.table and f"warehouse:{o.table}" or o.format for o in p.outputs)
        table.add_row(
            p.name, f"{p.database}.{p.collection}", params, outputs, "yes" if p.test else ""
        )
    return table


@documents_app.command("load")
def load(
    sources: SourcesArg = None,
    model: ModelOpt = None,
    full_refresh: FullRefreshOpt = False,
) -> None:
    """Load document sources into MongoDB (what `kspyder extract` does for them)."""
    from extract import mongo
    from extract.documents import load_documents
    from flows.cli import tables as report

    try:
        selected = _document_sources(sources)
        if model and len(selected) != 1:
            raise KspyderError("--model needs exactly one source")
    except KspyderError as exc:
        fail(exc)
    results = []
    with report.progress(console) as tick:
        for source in selected:
            results += load_documents(source, model or None, full_refresh, on_model=tick)
    out.print(report.results_table(results, f"documents -> {mongo.describe()}"))
    for r in results:
        if r.status != "ok":
            console.print(f"[red]failed[/red] {r.source}.{r.model}: {r.error}", highlight=False)
    raise typer.Exit(1 if any(r.status != "ok" for r in results) else 0)


@documents_app.command("status")
def status(sources: SourcesArg = None) -> None:
    """Collections and document counts of each document source's database."""
    from extract import mongo

    try:
        selected = _document_sources(sources)
        table = Table(title=f"documents in {mongo.describe()}")
        for col in ("database", "collection", "documents"):
            table.add_column(col, justify="right" if col == "documents" else "left")
        for source in selected:
            for coll, n in mongo.collection_counts(source.name).items():
                table.add_row(source.name, coll, f"{n:,}")
    except KspyderError as exc:
        fail(exc)
    out.print(table)


def _document_sources(names: list[str] | None) -> list[Any]:
    from extract.manifest.loader import load_manifests

    sources = load_manifests(only=names or None)
    wrong = [s.name for s in sources.values() if s.target != "documents" and names]
    if wrong:
        raise KspyderError(f"not document sources (target: documents): {', '.join(wrong)}")
    return [s for s in sources.values() if s.target == "documents"]
