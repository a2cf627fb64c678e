"""Shared console, options and error exit used by every command module, and the root app."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

from extract import project
from extract.errors import ConfigError
from extract.secrets import install_log_redaction, redact

console = Console(stderr=True)
out = Console(width=140)

SourcesArg = Annotated[list[str] | None, typer.Argument(help="Sources (default: all)")]
WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="duckdb:///path or postgresql://... URL "
        "(default: $KSPYDER_WAREHOUSE, else the embedded DuckDB file)",
    ),
]
ModelOpt = Annotated[list[str] | None, typer.Option("--model", "-m", help="Only these models")]
FullRefreshOpt = Annotated[
    bool, typer.Option(help="Drop the models' tables (collections) and state first")
]


def fail(exc: Exception) -> NoReturn:
    """Print a redacted error and exit: 2 for configuration problems, 1 otherwise."""
    console.print(
        f"[red]error:[/red] {redact(str(exc))}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(2 if isinstance(exc, ConfigError) else 1)


def root_app() -> typer.Typer:
    """The ``kspyder`` app with its start-up hook (environment, log redaction), no commands."""
    app = typer.Typer(
        name="kspyder",
        help="Declarative ELT: manifests -> dlt -> warehouse -> dbt; documents -> MongoDB.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _main() -> None:
        project.export_env()
        install_log_redaction()

    return app
