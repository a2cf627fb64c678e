"""Shared console, options and error exit used by every command module, and the root app."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

from extract import project
from extract.errors import ConfigError, KspyderError
from extract.secrets import install_log_redaction, redact

console = Console(stderr=True)
out = Console(width=140)

# One meaning per option everywhere: sources are positional, -s is dbt's --select, -m a
# model, -p an aggregation parameter, -w the warehouse (its environment variable shown).
SourcesArg = Annotated[list[str] | None, typer.Argument(help="Sources (default: all)")]
WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        envvar="KSPYDER_WAREHOUSE",
        show_envvar=True,
        help="duckdb:///path or postgresql://... URL (default: the embedded DuckDB file)",
    ),
]
ModelOpt = Annotated[list[str] | None, typer.Option("--model", "-m", help="Only these models")]
FullRefreshOpt = Annotated[
    bool, typer.Option(help="Drop the models' tables (collections) and state first")
]
SelectOpt = Annotated[
    list[str] | None, typer.Option("--select", "-s", help="dbt node selection (as dbt's -s)")
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Aggregation parameter name=value (repeatable)"),
]


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a pair without ``=`` is an error."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise KspyderError(f"--param '{pair}' is not name=value")
        params[name.strip()] = value
    return params


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
