"""Run dbt in process on the project in ``dbt_project/``, against the chosen warehouse.

The target comes from the warehouse: ``KSPYDER_DBT_TARGET`` plus ``KSPYDER_DUCKDB_PATH`` or
``KSPYDER_PG_*`` (the password only as ``DBT_ENV_SECRET_KSPYDER_PG_PASSWORD``, which dbt
scrubs from its logs), set for the call and restored after. dbt's target and log folders
live under ``$KSPYDER_HOME/dbt``. A parsed manifest is reused by later calls in the same
process while the project files and the target are unchanged, so only the first call parses.
This module does not import dlt: ``kspyder transform`` starts as fast as plain ``dbt``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from extract import project
from extract.errors import KspyderError
from extract.secrets import redact, register_secret

if TYPE_CHECKING:
    from extract.warehouse import Warehouse

PASSWORD_ENV = "DBT_ENV_SECRET_KSPYDER_PG_PASSWORD"
ANALYST_ROLE_ENV = "KSPYDER_ANALYST_ROLE"
DEFAULT_ANALYST_ROLE = "kspyder_analyst"
_NO_MANIFEST = frozenset({"parse", "deps", "clean", "debug", "init"})
_PARSE_FLAGS = frozenset({"--vars", "--target", "-t", "--profile", "--project-dir"})
_TEST_TYPES = frozenset({"test", "unit_test"})
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
_manifests: dict[str, Any] = {}
_lock = threading.Lock()  # dbt is not re-entrant, and the target lives in os.environ


@dataclass
class DbtResult:
    """What one dbt invocation did: models built, tests by outcome, failures."""

    success: bool
    command: list[str]
    models: list[str] = field(default_factory=list)
    tests_passed: int = 0
    tests_failed: int = 0
    tests_errored: int = 0
    tests_warned: int = 0
    unit_tests_passed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    target: str = ""


def target_env(kind: str, location: str) -> dict[str, str]:
    """Environment that points ``dbt_project/profiles.yml`` at a warehouse."""
    if kind == "duckdb":
        return {"KSPYDER_DBT_TARGET": "duckdb", "KSPYDER_DUCKDB_PATH": location}
    if kind != "postgres":
        raise KspyderError(f"dbt cannot run on a '{kind}' destination: use duckdb or postgres")
    parts = urlsplit(location)
    password = unquote(parts.password) if parts.password else ""
    register_secret(password)
    return {
        "KSPYDER_DBT_TARGET": "postgres",
        "KSPYDER_PG_HOST": parts.hostname or "127.0.0.1",
        "KSPYDER_PG_PORT": str(parts.port or 5432),
        "KSPYDER_PG_USER": unquote(parts.username or "postgres"),
        "KSPYDER_PG_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        PASSWORD_ENV: password,
    }


def build_args(select: list[str] | None = None, full_refresh: bool = False) -> list[str]:
    """``dbt build`` arguments; a selection runs only tests whose parents are all built
    ("buildable"), so a relationship test never fails on a mart left out of the selection."""
    args = ["build"]
    if select:
        args += ["--select", *select, "--indirect-selection", "buildable"]
    if full_refresh:
        args.append("--full-refresh")
    return args


@contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _analyst_env(kind: str, location: str, warnings: list[str]) -> dict[str, str]:
    """Grant SELECT to the analyst role only where it exists (PostgreSQL)."""
    role = os.environ.get(ANALYST_ROLE_ENV, DEFAULT_ANALYST_ROLE)
    if kind != "postgres" or not role:
        return {ANALYST_ROLE_ENV: role}
    import psycopg2

    try:
        conn = psycopg2.connect(_libpq_url(location))
    except psycopg2.Error as exc:
        raise KspyderError(f"cannot connect to {redact(location)}: {exc}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", (role,))
            exists = cur.fetchone() is not None
    finally:
        conn.close()
    if exists:
        return {ANALYST_ROLE_ENV: role}
    warnings.append(
        f"role {role} does not exist: models built without grants; run `kspyder warehouse grant`"
    )
    return {ANALYST_ROLE_ENV: ""}


def _libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme="postgresql").geturl()


def dbt_paths() -> list[str]:
    """Project, profiles, target and log folder flags for every invocation."""
    dbt_dir = project.dbt_project_dir()
    state = project.home() / "dbt"
    return [
        "--project-dir", str(dbt_dir),
        "--profiles-dir", str(dbt_dir),
        "--target-path", str(state / "target"),
        "--log-path", str(state / "logs"),
    ]  # fmt: skip


def _fingerprint(env: dict[str, str]) -> str:
    """Changes when a project file or the target changes: the cached manifest is stale."""
    digest = hashlib.sha256(repr(sorted(env.items())).encode())
    root = project.dbt_project_dir()
    files = [root / "dbt_project.yml", root / "profiles.yml", root / "packages.yml"]
    for folder in PROJECT_FOLDERS:
        files += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    for path in files:
        if path.exists():
            stat = path.stat()
            digest.update(f"{path}|{stat.st_mtime_ns}|{stat.st_size}".encode())
    return digest.hexdigest()


def _manifest(flags: list[str], key: str) -> Any:
    """A fresh copy of the parsed manifest for this project and target (parsed once).

    dbt marks nodes as compiled while running, so each run gets its own deep copy.
    """
    if key not in _manifests:
        from dbt.cli.main import dbtRunner

        parsed = dbtRunner().invoke(["parse", "--quiet", *flags])
        if not parsed.success:
            return None  # let the real command report the parse error
        _manifests.clear()
        _manifests[key] = parsed.result
    return _manifests[key].deepcopy()


def run_dbt(
    args: list[str], warehouse: Warehouse | None = None, url: str | None = None
) -> DbtResult:
    """Run ``dbt <args>`` in process on ``dbt_project/`` against the warehouse."""
    from dbt.cli.main import dbtRunner

    from extract.warehouse import resolve  # the one resolver (imports no dlt)

    target = warehouse or resolve(url)
    kind, location = target.kind, target.location
    result = DbtResult(success=False, command=list(args), target=kind)
    env = target_env(kind, location)
    env.update(_analyst_env(kind, location, result.warnings))
    flags = dbt_paths()
    started = time.perf_counter()
    parse_flags = {a.split("=", 1)[0] for a in args} & _PARSE_FLAGS
    reuse = bool(args) and args[0] not in _NO_MANIFEST and not parse_flags
    with _lock, patched_env(env):
        manifest = _manifest(flags, _fingerprint(env)) if reuse else None
        try:
            outcome = dbtRunner(manifest=manifest).invoke([*args, *flags])
        finally:
            if kind == "duckdb":
                release_duckdb()
    result.elapsed_s = time.perf_counter() - started
    if outcome.exception is not None:
        result.failures.append(redact(f"{type(outcome.exception).__name__}: {outcome.exception}"))
    _collect(outcome.result, result)
    result.success = bool(outcome.success) and not result.failures
    return result


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open per process after a run.

    Otherwise the file stays locked in this process, and dlt or a read-only connection
    opened next fails ("different configuration than existing connections").
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing was opened
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
            DuckDBConnectionManager._ENV = None


def _collect(run: Any, result: DbtResult) -> None:
    """Fold dbt's node results into counts and failure messages."""
    for node_result in getattr(run, "results", None) or []:
        node = node_result.node
        status = str(node_result.status).lower()
        kind = str(node.resource_type).lower()
        if status == "skipped":
            result.skipped += 1
        elif kind in _TEST_TYPES:
            if status == "pass":
                result.tests_passed += 1
                result.unit_tests_passed += 1 if kind == "unit_test" else 0
            elif status == "warn":
                result.tests_warned += 1
            elif status == "fail":
                result.tests_failed += 1
            else:
                result.tests_errored += 1
        elif kind == "model" and status == "success":
            result.models.append(node.name)
        if status in ("fail", "error", "runtime error"):
            message = redact(str(node_result.message or status))
            result.failures.append(f"{node.resource_type} {node.name}: {message}")
