"""Warehouse access control: analysts read dbt's staging and marts, never the raw schemas.

On PostgreSQL ``grant()`` creates the roles if missing, gives the loader role the raw
schemas (one per source, plus dlt's ``<source>_staging``), gives the analyst role USAGE and
SELECT on dbt's schemas (with default privileges for tables created later, and dbt's
``+grants`` re-applying SELECT on every run), and revokes everything on raw schemas and
dlt's bookkeeping tables from PUBLIC and the analyst. DuckDB has no roles: access to the
file is access to everything, so there is nothing to grant.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql

from extract.errors import KspyderError
from extract.secrets import register_secret

if TYPE_CHECKING:
    from extract.warehouse import Warehouse

ANALYST_ROLE = "kspyder_analyst"
LOADER_ROLE = "kspyder_loader"
ANALYST_SCHEMAS = ("staging", "marts")
DLT_STAGING_SUFFIX = "_staging"


@dataclass
class GrantReport:
    """What ``grant`` did: statements run (no secrets), schemas by side, notes."""

    applicable: bool
    statements: list[str] = field(default_factory=list)
    raw_schemas: list[str] = field(default_factory=list)
    analyst_schemas: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _dlt_schemas(cur: Any) -> list[str]:
    """Schemas holding dlt bookkeeping tables: every dlt dataset, staging datasets included."""
    cur.execute(
        "select distinct table_schema from information_schema.tables "
        "where table_name in ('_dlt_version', '_dlt_loads') order by 1"
    )
    return [str(row[0]) for row in cur.fetchall()]


def _existing(cur: Any, schemas: Iterable[str]) -> list[str]:
    cur.execute(
        "select nspname from pg_namespace where nspname = any(%s) order by 1", (list(schemas),)
    )
    return [str(row[0]) for row in cur.fetchall()]


def _role_exists(cur: Any, role: str) -> bool:
    cur.execute("select 1 from pg_roles where rolname = %s", (role,))
    return cur.fetchone() is not None


class _Session:
    """Runs statements on one transaction and records them (passwords never recorded)."""

    def __init__(self, cur: Any, report: GrantReport) -> None:
        self.cur = cur
        self.report = report

    def run(self, statement: Any, params: tuple[Any, ...] | None = None) -> None:
        text = statement.as_string(self.cur.connection)
        self.cur.execute(statement, params)
        self.report.statements.append(text if params is None else text.replace("%s", "***"))


def _ensure_roles(db: _Session, analyst: str, loader: str, password: str | None) -> None:
    if not _role_exists(db.cur, loader):
        db.run(sql.SQL("create role {} nologin").format(sql.Identifier(loader)))
    login = sql.SQL("login password %s") if password else sql.SQL("nologin")
    params = (password,) if password else None
    if not _role_exists(db.cur, analyst):
        db.run(sql.SQL("create role {} ").format(sql.Identifier(analyst)) + login, params)
    elif password:
        db.run(sql.SQL("alter role {} ").format(sql.Identifier(analyst)) + login, params)


def _lock_raw(db: _Session, schema: str, analyst: str, loader: str) -> None:
    """Loader owns and uses the raw schema; PUBLIC and the analyst get nothing in it."""
    s, a, lo = sql.Identifier(schema), sql.Identifier(analyst), sql.Identifier(loader)
    db.cur.execute(
        "select rolsuper or pg_has_role(current_user, %s, 'MEMBER') "
        "from pg_roles where rolname = current_user",
        (loader,),
    )
    row = db.cur.fetchone()
    if row and row[0]:
        db.run(sql.SQL("alter schema {} owner to {}").format(s, lo))
    db.run(sql.SQL("grant usage, create on schema {} to {}").format(s, lo))
    db.run(sql.SQL("grant all on all tables in schema {} to {}").format(s, lo))
    db.run(sql.SQL("grant all on all sequences in schema {} to {}").format(s, lo))
    db.run(sql.SQL("revoke all on schema {} from public, {}").format(s, a))
    db.run(sql.SQL("revoke all on all tables in schema {} from public, {}").format(s, a))
    db.run(sql.SQL("revoke all on all sequences in schema {} from public, {}").format(s, a))
    revoke_later = "alter default privileges in schema {} revoke all on tables from public, {}"
    db.run(sql.SQL(revoke_later).format(s, a))


def _open_analyst(db: _Session, schema: str, analyst: str) -> None:
    """USAGE + SELECT on a dbt schema, now and for tables the current user creates later."""
    s, a = sql.Identifier(schema), sql.Identifier(analyst)
    db.run(sql.SQL("create schema if not exists {}").format(s))
    db.run(sql.SQL("revoke create on schema {} from public, {}").format(s, a))
    db.run(sql.SQL("grant usage on schema {} to {}").format(s, a))
    db.run(sql.SQL("grant select on all tables in schema {} to {}").format(s, a))
    db.run(
        sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(s, a)
    )


def grant(
    warehouse: Warehouse,
    analyst_role: str = ANALYST_ROLE,
    loader_role: str = LOADER_ROLE,
    analyst_password_env: str | None = None,
    sources: Iterable[str] = (),
    analyst_schemas: Iterable[str] = ANALYST_SCHEMAS,
) -> GrantReport:
    """Apply the access policy (see the module docstring); idempotent, one transaction.

    Raw schemas are the given source names, their dlt staging datasets and every schema
    holding dlt bookkeeping tables. The analyst can log in only if ``analyst_password_env``
    names a set environment variable (its value becomes the password).
    """
    if warehouse.kind == "duckdb":
        return GrantReport(
            applicable=False,
            notes=[
                "DuckDB has no roles or grants: access control is file-level "
                f"(permissions on {warehouse.display}); share marts by exporting them instead"
            ],
        )
    if warehouse.kind != "postgres":
        raise KspyderError(f"grants apply to a PostgreSQL warehouse, not '{warehouse.kind}'")
    password = os.environ.get(analyst_password_env) if analyst_password_env else None
    if analyst_password_env and not password:
        raise KspyderError(f"{analyst_password_env} is not set: no password for {analyst_role}")
    register_secret(password)
    sources = list(sources)
    dbt_schemas = list(dict.fromkeys(analyst_schemas))
    report = GrantReport(applicable=True, analyst_schemas=dbt_schemas)
    try:
        conn = psycopg2.connect(warehouse.sqlalchemy_url())
    except psycopg2.Error as exc:
        raise KspyderError(f"cannot connect to {warehouse.display}: {exc}") from exc
    try:
        with conn, conn.cursor() as cur:
            db = _Session(cur, report)
            _ensure_roles(db, analyst_role, loader_role, password)
            names = [n for s in sources for n in (s, s + DLT_STAGING_SUFFIX)]
            clash = sorted(set(names) & set(dbt_schemas))
            if clash:
                raise KspyderError(f"source schema(s) {', '.join(clash)} clash with dbt's schemas")
            candidates = set(_existing(cur, names)) | set(_dlt_schemas(cur))
            report.raw_schemas = sorted(candidates - set(dbt_schemas))
            for schema in report.raw_schemas:
                _lock_raw(db, schema, analyst_role, loader_role)
            for schema in dbt_schemas:
                _open_analyst(db, schema, analyst_role)
            cur.execute("select current_database()")
            database = sql.Identifier(str(cur.fetchone()[0]))
            connect = sql.SQL("grant connect on database {} to {}")
            db.run(connect.format(database, sql.Identifier(analyst_role)))
    except psycopg2.Error as exc:
        raise KspyderError(f"grant on {warehouse.display} failed: {exc}") from exc
    finally:
        conn.close()
    missing = sorted(set(sources) - set(report.raw_schemas))
    if missing:
        report.notes.append(
            f"not loaded yet: {', '.join(missing)} (new schemas are closed by default in "
            "PostgreSQL 15+; run grant again after the first load to hand them to the loader)"
        )
    return report
