"""Access control: roles, raw schemas closed, dbt schemas readable (fast, no dbt run)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import errors

from extract.warehouse import resolve
from tests.helpers import query
from tests.transform.dbt.pg_roles import Roles, create_login, unique_roles
from transform.grants import grant


@pytest.fixture
def roles(pg_database: str) -> Iterator[Roles]:
    with unique_roles(pg_database) as names:
        yield names


def _setup_like_dlt_and_dbt(url: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create schema erp")
        cur.execute("create table erp.customers (id int, email text)")
        cur.execute("insert into erp.customers values (1, 'jane@example.com')")
        cur.execute("create table erp._dlt_loads (load_id text)")
        cur.execute("create schema erp_staging")
        cur.execute("create table erp_staging._dlt_version (version int)")
        cur.execute("grant usage on schema erp to public")  # a careless default to undo
        cur.execute("grant select on erp.customers to public")
        cur.execute("create schema staging")
        cur.execute("create view staging.stg_erp__customers as select id from erp.customers")
    conn.close()


@pytest.mark.postgres
def test_analyst_reads_dbt_schemas_only(
    pg_database: str, roles: Roles, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup_like_dlt_and_dbt(pg_database)
    warehouse = resolve(pg_database)
    report = grant(warehouse, roles.analyst, roles.loader, sources=["erp", "crm"])
    again = grant(warehouse, roles.analyst, roles.loader, sources=["erp", "crm"])  # idempotent
    assert report.applicable
    assert again.raw_schemas == report.raw_schemas
    assert report.raw_schemas == ["erp", "erp_staging"]
    assert any("crm" in note for note in report.notes)  # not loaded yet
    create_login(pg_database, roles)

    login = roles.login_url(pg_database)
    assert query(login, "select id from staging.stg_erp__customers") == [(1,)]
    for table in ("erp.customers", "erp._dlt_loads", "erp_staging._dlt_version"):
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            query(login, f"select * from {table}")
    # tables dbt creates later in its schemas stay readable (default privileges)
    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create schema if not exists marts")
        cur.execute("create table marts.later as select 1 as x")
    conn.close()
    assert query(login, "select x from marts.later") == [(1,)]

    flags = dict(
        query(
            pg_database,
            "select rolname, rolcanlogin from pg_roles "
            f"where rolname in ('{roles.analyst}', '{roles.loader}')",
        )
    )
    assert flags == {roles.analyst: False, roles.loader: False}
    owner = query(
        pg_database, "select nspowner::regrole::text from pg_namespace where nspname = 'erp'"
    )
    assert owner == [(roles.loader,)]

    monkeypatch.setenv("T_ANALYST_PW", "analyst-pw-123")
    with_login = grant(warehouse, roles.analyst, roles.loader, "T_ANALYST_PW", ["erp"])
    assert not any("analyst-pw-123" in s for s in with_login.statements)
    assert query(
        pg_database, f"select rolcanlogin from pg_roles where rolname = '{roles.analyst}'"
    ) == [(True,)]


def test_duckdb_has_no_access_control() -> None:
    report = grant(resolve())
    assert not report.applicable
    assert "file-level" in report.notes[0]
