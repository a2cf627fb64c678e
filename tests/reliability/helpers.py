"""Helpers of the reliability suite: manifests, warehouse queries, dlt state, subprocesses."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
from dlt.common.exceptions import DltException

from extract import project
from extract.manifest.loader import parse_source
from extract.manifest.typing import Source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query, write_manifest

DEALS_LIMIT = 50


ERP_MERGE = """\
kind: sql
connection: {{url: "sqlite:///{db}", chunk_size: {chunk}}}
defaults: {{write_disposition: merge}}
models:
  customers:
    primary_key: customer_id
    incremental: {{cursor: updated_at, initial_value: "2000-01-01 00:00:00"}}
  orders:
    primary_key: order_id
    incremental: {{cursor: updated_at, initial_value: "2000-01-01 00:00:00"}}
"""
"""The demo ERP's customers and orders, merged incrementally (``.format(db=, chunk=)``)."""


def crm_manifest(
    base_url: str,
    retry: str = "{max_attempts: 4, backoff_factor: 0.1, max_delay: 10}",
    timeout: float = 5.0,
    token_env: str = "CRM_TOKEN",
    extra_models: str = "",
) -> str:
    """A REST manifest on the demo CRM: ``deals`` (cursor, incremental, merge) and others."""
    return f"""\
kind: rest
client:
  base_url: {base_url}
  timeout: {timeout}
  auth: {{type: bearer, token: "${{{token_env}}}"}}
  retry: {retry}
defaults:
  write_disposition: merge
  primary_key: id
models:
  deals:
    endpoint:
      path: /crm/deals
      params: {{limit: {DEALS_LIMIT}}}
      data_selector: results.items
      paginator:
        type: cursor
        cursor_path: next_cursor
        cursor_param: cursor
        has_more_path: has_more
    incremental:
      cursor: updated_at
      param: updated_since
      initial_value: "2000-01-01T00:00:00Z"
  customers:
    endpoint:
      path: /crm/customers
      params: {{per_page: 20}}
      data_selector: data
      paginator: {{type: page_number, total_pages_path: meta.total_pages}}
  contacts:
    endpoint:
      path: /crm/contacts
      params: {{limit: 100}}
      data_selector: items
      paginator: {{type: offset, limit: 100, total_path: total}}
{extra_models}"""


def source_from(folder: Path, name: str, text: str) -> Source:
    """Write ``<folder>/<name>.yml`` and parse it with the real loader."""
    return parse_source(write_manifest(folder, name, text))


def wh_ref(warehouse: Warehouse) -> str:
    """What ``tests.helpers.query`` needs: the DuckDB path or the PostgreSQL URL."""
    return warehouse.sqlalchemy_url() if warehouse.kind == "postgres" else warehouse.location


def scalar(warehouse: Warehouse | str, sql: str) -> Any:
    """The first value of the first row of a query."""
    ref = warehouse if isinstance(warehouse, str) else wh_ref(warehouse)
    return query(ref, sql)[0][0]


def table_exists(warehouse: Warehouse, schema: str, table: str) -> bool:
    """True when ``schema.table`` exists in the warehouse."""
    sql = (
        "select count(*) from information_schema.tables "
        f"where table_schema = '{schema}' and table_name = '{table}'"
    )
    return bool(scalar(warehouse, sql))


def count_and_distinct(warehouse: Warehouse, table: str, key: str) -> tuple[int, int]:
    """``count(*)`` and ``count(distinct key)`` of a table (0, 0 when it does not exist)."""
    schema, name = table.split(".")
    if not table_exists(warehouse, schema, name):
        return 0, 0
    row = query(wh_ref(warehouse), f"select count(*), count(distinct {key}) from {table}")[0]
    return int(row[0]), int(row[1])


def local_state(source: str) -> dict[str, Any]:
    """The dlt pipeline state kept locally for a source (what the next run starts from)."""
    pipeline = dlt.attach(
        pipeline_name=project.pipeline_name(source), pipelines_dir=str(project.pipelines_dir())
    )
    return dict(pipeline.state)


def cursor(source: str, model: str, field: str = "updated_at") -> Any:
    """The incremental ``last_value`` of a model in the local dlt state (None if absent)."""
    try:
        resources = local_state(source)["sources"][source]["resources"]
        return resources[model]["incremental"][field]["last_value"]
    except (KeyError, FileNotFoundError, DltException):
        return None


def pending_packages(source: str) -> tuple[list[str], list[str]]:
    """Load ids still waiting in the local pipeline: (extracted, normalized)."""
    pipeline = dlt.attach(
        pipeline_name=project.pipeline_name(source), pipelines_dir=str(project.pipelines_dir())
    )
    return (
        list(pipeline.list_extracted_load_packages()),
        list(pipeline.list_normalized_load_packages()),
    )


def cli(*args: str) -> list[str]:
    """The command line of ``kspyder`` run as a module by this interpreter."""
    return [sys.executable, "-m", "flows.cli", *args]


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment (KSPYDER_HOME etc. already isolated) for a subprocess."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def run_cli(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``kspyder ARGS`` to completion and capture its output."""
    return subprocess.run(
        cli(*args),
        cwd=project.ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kill_when(
    proc: subprocess.Popen[Any],
    ready: Callable[[], bool],
    confirm: Callable[[], bool] | None = None,
    deadline_s: float = 180.0,
    poll_s: float = 0.002,
) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; True if it was killed where ``confirm()`` holds.

    The process is frozen with SIGSTOP first, so ``confirm`` looks at the state the process
    is really in when it dies (the phase may have moved on between ``ready`` and the signal).
    """
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGSTOP)
            landed = confirm() if confirm is not None else True
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return landed
        time.sleep(poll_s)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return False


def sqlite_exec(db: Path, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Run statements on a SQLite file and commit (``params`` bind the ``?`` of any)."""
    con = sqlite3.connect(db)
    try:
        for sql in statements:
            con.execute(sql, params if "?" in sql else ())
        con.commit()
    finally:
        con.close()


def warehouse_for(which: str, request: Any) -> Warehouse:
    """``duckdb`` (the test's file) or ``postgres`` (a fresh database of ``pg_database``)."""
    if which == "postgres":
        return resolve(request.getfixturevalue("pg_database"))
    return resolve()
