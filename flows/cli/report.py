"""``kspyder report``: the static HTML report of the cloud estate (offline, one file)."""

from __future__ import annotations

from typing import Annotated

import typer

from extract.errors import KspyderError
from flows.cli.common import fail, out

app = typer.Typer()  # this module's commands; flows.cli.build_app composes them


@app.command()
def report(
    database: Annotated[str, typer.Option(help="Documents database to read")] = "cloud",
    tag: Annotated[str, typer.Option(help="Tag the cost charts group by")] = "CostCenter",
    top: Annotated[int, typer.Option(help="Resources in the top-cost chart", min=1)] = 10,
) -> None:
    """Write .kspyder/outputs/report/index.html: topology per virtual network, option
    propagation and FinOps charts, with every library inlined (opens offline)."""
    from transform.report import write_report

    try:
        path = write_report(database, tag, top)
    except KspyderError as exc:
        fail(exc)
    out.print(f"report -> {path}")
