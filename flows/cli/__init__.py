"""The ``kspyder`` command line, composed explicitly from its command modules.

``build_app()`` is the one composition root: each module in this package keeps its own
``typer.Typer`` of commands and groups, and nothing registers itself on import.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def build_app() -> typer.Typer:
    """The root app with every command module's commands and groups."""
    from flows.cli import core, documents, report, run, transform
    from flows.cli.common import root_app

    app = root_app()
    for module in (core, transform, documents, report, run):
        app.registered_commands += module.app.registered_commands
        app.registered_groups += module.app.registered_groups
    return app


def main() -> None:
    """Console entry point: builds the app, runs it, exits fast."""
    from extract.errors import KspyderError
    from flows.cli.common import fail

    app = build_app()
    try:
        app()
    except SystemExit as exc:
        exit_fast(exc.code)
    except KspyderError as exc:  # one clear line, not a traceback (e.g. a damaged store)
        try:
            fail(exc)
        except typer.Exit as stop:
            exit_fast(stop.exit_code)
    exit_fast(0)


def exit_fast(code: int | str | None) -> NoReturn:
    """Exit without tearing down every imported module (~1.5-2.5 s here with dlt, dbt and
    Prefect loaded, for nothing): first what a normal exit does that matters (join
    non-daemon threads and run the thread-exit hooks Prefect uses to flush its logs and
    events, run ``atexit`` handlers, flush the standard streams), then ``os._exit``."""
    import atexit
    import os
    import threading

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # not CPython: the normal way
        sys.exit(code)
    shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
