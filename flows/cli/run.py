"""``kspyder run``, ``kspyder demo`` and ``kspyder serve``: the orchestrated commands."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from extract.errors import KspyderError
from flows import prefect_server
from flows.cli.common import (
    ParamOpt,
    SelectOpt,
    SourcesArg,
    WarehouseOpt,
    console,
    fail,
    out,
    parse_params,
)
from flows.prefect_server import TemporaryServer

app = typer.Typer()  # this module's commands; flows.cli.build_app composes them


def _print_summary(summary: dict[str, Any], started: float) -> None:
    from flows.summary import RunSummary, models_table, stages_lines

    run = RunSummary(**summary)
    out.print(models_table(run))
    for line in stages_lines(run):
        out.print(line, highlight=False)
    out.print(f"wall time {time.perf_counter() - started:.1f}s", highlight=False)


def run_elt(server: TemporaryServer | None, **kwargs: Any) -> dict[str, Any]:
    """Run the ``elt`` flow (Prefect) on ``server`` if one was started; return its summary.

    A warehouse URL carrying a password is passed by reference (the environment), so
    Prefect never stores it among the flow run's parameters. A failed run (Failed state in
    Prefect) still returns its summary.
    """
    from extract.mongo import embedded_server
    from flows.elt import RunFailed, elt
    from flows.stages import warehouse_by_reference

    kwargs["warehouse_url"] = warehouse_by_reference(kwargs.get("warehouse_url"))
    with embedded_server(), prefect_server.api_for_run(server):
        try:
            result = elt(**kwargs)
        except RunFailed as exc:
            result = exc.summary
    assert isinstance(result, dict)
    return result


@app.command()
def run(
    sources: SourcesArg = None,
    full_refresh: Annotated[bool, typer.Option(help="Reload models from scratch")] = False,
    select: SelectOpt = None,
    pipeline: Annotated[list[str] | None, typer.Option(help="Aggregation pipelines")] = None,
    param: ParamOpt = None,
    warehouse: WarehouseOpt = None,
    transform: Annotated[bool, typer.Option(help="Run dbt build")] = True,
    aggregate: Annotated[bool, typer.Option(help="Run aggregation pipelines")] = True,
    retries: Annotated[int, typer.Option(help="Retries of a failed extract unit")] = 2,
) -> None:
    """The full run through Prefect: extract -> dbt build -> aggregations -> summary."""
    started = time.perf_counter()
    server = prefect_server.start()  # boots while the rest is imported
    try:
        summary = run_elt(
            server,
            sources=sources,
            full_refresh=full_refresh,
            dbt_select=select,
            pipelines=pipeline,
            warehouse_url=warehouse,
            skip_transform=not transform,
            skip_aggregate=not aggregate,
            params=parse_params(param),
            retries=retries,
        )
    except KspyderError as exc:
        fail(exc)
    _print_summary(summary, started)
    if summary["failures"]:
        console.print(f"[red]failed stage:[/red] {summary['failures'][0]}", highlight=False)
        raise typer.Exit(1)


@app.command()
def demo(
    rate: Annotated[float, typer.Option(help="Demo API server-side rate limit (req/s)")] = 50.0,
) -> None:
    """Start the demo sources, run the whole flow on the embedded defaults, stop them."""
    started = time.perf_counter()
    server = prefect_server.start()  # boots while the demo sources start

    from demo.local import demo_sources

    with demo_sources(rate) as url:
        console.print(f"demo API on {url}; ERP SQLite ready; running the elt flow", highlight=False)
        try:
            summary = run_elt(server)
        except KspyderError as exc:
            fail(exc)
    _print_summary(summary, started)
    if summary["failures"]:
        raise typer.Exit(1)


@app.command()
def serve(
    warehouse: WarehouseOpt = None,
) -> None:
    """Serve the scheduled deployments in-process (daily ELT + per-source schedules)."""
    from prefect import serve as prefect_serve

    from flows.deployments import runner_deployments

    deployments = runner_deployments(warehouse)
    for d in deployments:
        console.print(f"serving {d.name}: {d.schedules or 'no schedule'}", highlight=False)
    prefect_serve(*deployments)


deployments_app = typer.Typer(help="Prefect deployments generated from the manifests.")
app.add_typer(deployments_app, name="deployments")


@deployments_app.command("generate")
def deployments_generate(
    check: Annotated[bool, typer.Option(help="Fail if prefect.yaml is stale")] = False,
) -> None:
    """Regenerate prefect.yaml (daily ELT + per-source schedules from manifests)."""
    from extract import project
    from flows.deployments import prefect_yaml, write_prefect_yaml

    try:
        text = prefect_yaml()
    except KspyderError as exc:
        fail(exc)
    target = project.ROOT / "prefect.yaml"
    if check:
        if not target.exists() or target.read_text() != text:
            console.print("prefect.yaml is stale: run `kspyder deployments generate`")
            raise typer.Exit(1)
        out.print("prefect.yaml is up to date")
        return
    out.print(f"wrote {write_prefect_yaml()}")
