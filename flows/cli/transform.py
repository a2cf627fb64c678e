"""Commands of the dbt stage: ``transform``, ``dbt generate``, ``pii report``, ``warehouse grant``.

``transform`` imports neither dlt nor the manifests, so it starts as fast as plain dbt.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from extract.errors import KspyderError
from flows.cli.common import SelectOpt, WarehouseOpt, console, fail, out

app = typer.Typer()  # this module's commands; flows.cli.build_app composes them

dbt_app = typer.Typer(name="dbt", help="The dbt project: generate staging from manifests.")
pii_app = typer.Typer(name="pii", help="Personal data: where it is and how it is handled.")
warehouse_app = typer.Typer(name="warehouse", help="Warehouse administration.")
app.add_typer(dbt_app, name="dbt")
app.add_typer(pii_app, name="pii")
app.add_typer(warehouse_app, name="warehouse")

SUSPECTS_EXIT = 3


@app.command()
def transform(
    select: SelectOpt = None,
    warehouse: WarehouseOpt = None,
    full_refresh: Annotated[
        bool, typer.Option(help="Rebuild incremental models from scratch")
    ] = False,
) -> None:
    """Build the dbt project (models, seeds, data and unit tests); exit 1 on any failure.

    With --select, tests run only when all their parents are built (dbt's "buildable"
    indirect selection), so a relationship test never fails on a mart not selected.
    """
    from transform.dbt.runner import build_args, run_dbt

    try:
        result = run_dbt(build_args(select, full_refresh), url=warehouse)
    except KspyderError as exc:
        fail(exc)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    tests = (
        f"tests passed {result.tests_passed}, failed {result.tests_failed}, "
        f"errored {result.tests_errored}"
    )
    out.print(
        f"transform ({result.target}): {len(result.models)} model(s) built, {tests}, "
        f"skipped {result.skipped} in {result.elapsed_s:.1f}s",
        highlight=False,
    )
    for failure in result.failures:
        console.print(f"[red]failed[/red] {failure}", highlight=False)
    raise typer.Exit(0 if result.success else 1)


@dbt_app.command("generate")
def dbt_generate(
    force: Annotated[bool, typer.Option(help="Overwrite files a person edited")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write staging models and sources from the manifests (and the warehouse's columns)."""
    from extract.manifest.loader import load_manifests
    from extract.warehouse import resolve
    from transform.dbt.generate import generate

    try:
        report = generate(load_manifests(validate_env=False), resolve(warehouse), force=force)
    except KspyderError as exc:
        fail(exc)
    for outcome in report.files:
        if outcome.action != "unchanged":
            out.print(f"{outcome.action:>11}  {outcome.path}", highlight=False)
    origins = sorted(set(report.columns_from.values()))
    unchanged = len(report.by_action("unchanged"))
    out.print(f"{unchanged} file(s) unchanged; columns from: {', '.join(origins)}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for path in report.by_action("skipped"):
        console.print(
            f"[yellow]skipped[/yellow] {path}: edited by hand (use --force to overwrite)",
            highlight=False,
        )


@pii_app.command("rotate-key")
def pii_rotate_key(warehouse: WarehouseOpt = None) -> None:
    """Re-hash every source with hashed columns using the current key (full refresh)."""
    from flows.stages import rotate_key_stage

    try:
        results = rotate_key_stage(warehouse)
    except KspyderError as exc:
        fail(exc)
    failed = [r for r in results if r["status"] != "ok"]
    for r in results:
        out.print(f"{r['source']}.{r['model']}: {r['status']}, {r['rows']} rows", highlight=False)
    if failed:
        console.print(
            f"{len(failed)} model(s) failed; the new key is not recorded: fix them and run "
            "`kspyder pii rotate-key` again",
            highlight=False,
        )
        raise typer.Exit(1)
    out.print(
        "new key fingerprint recorded; run `kspyder transform` so the marts use the new pseudonyms",
        highlight=False,
    )


@pii_app.command("report")
def pii_report_command(
    warehouse: WarehouseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout")] = False,
) -> None:
    """Every classified column and where its strategy runs; exit 3 on unclassified suspects."""
    from extract.manifest.loader import load_manifests
    from extract.warehouse import resolve
    from transform.pii_report import pii_report

    try:
        rows = pii_report(load_manifests(validate_env=False), resolve(warehouse))
    except KspyderError as exc:
        fail(exc)
    if as_json:
        for row in rows:
            out.print_json(json.dumps(row.as_dict()), indent=None)
    else:
        table = Table("source", "model", "column", "strategy", "applied", "evidence")
        for row in rows:
            style = "red" if row.suspect else None
            table.add_row(
                row.source, row.model, row.column, row.strategy, row.applied, row.evidence,
                style=style,
            )  # fmt: skip
        out.print(table)
    suspects = [r for r in rows if r.suspect]
    if suspects:
        console.print(
            f"{len(suspects)} unclassified column(s) look like personal data: declare "
            "`pii:` for them in their manifest (keep if on purpose)",
            highlight=False,
        )
        raise typer.Exit(SUSPECTS_EXIT)


@warehouse_app.command("grant")
def warehouse_grant(
    warehouse: WarehouseOpt = None,
    analyst_role: Annotated[str, typer.Option(help="Role that reads staging and marts")] = (
        "kspyder_analyst"
    ),
    loader_role: Annotated[str, typer.Option(help="Role that owns the raw schemas")] = (
        "kspyder_loader"
    ),
    analyst_password_env: Annotated[
        str | None, typer.Option(help="Env var holding a password: the analyst role can log in")
    ] = None,
) -> None:
    """Analysts read dbt's staging and marts only; raw schemas are closed (PostgreSQL)."""
    from extract.manifest.loader import load_manifests
    from extract.warehouse import resolve
    from transform.grants import grant

    try:
        sources = [
            s.name for s in load_manifests(validate_env=False).values() if s.target == "warehouse"
        ]
        report = grant(resolve(warehouse), analyst_role, loader_role, analyst_password_env, sources)
    except KspyderError as exc:
        fail(exc)
    for note in report.notes:
        out.print(note, highlight=False)
    if report.applicable:
        out.print(
            f"{analyst_role}: reads {', '.join(report.analyst_schemas)}; "
            f"closed raw schemas: {', '.join(report.raw_schemas) or 'none yet'} "
            f"({len(report.statements)} statements)",
            highlight=False,
        )
