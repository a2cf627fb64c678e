"""dbt on PostgreSQL: an analyst login sees staging and marts only, and no personal data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from psycopg2 import errors

from extract.load import extract_source
from extract.manifest.typing import Source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query
from tests.transform.dbt.demo_data import MODELS, load_crm, load_erp, pii_values
from tests.transform.dbt.pg_roles import Roles, create_login, unique_roles
from transform.dbt.runner import run_dbt
from transform.grants import grant

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
RAW = {"erp", "crm", "erp_staging", "crm_staging"}
TEXT_TYPES = ("text", "character varying", "character")


@pytest.fixture
def roles(pg_database: str) -> Iterator[Roles]:
    with unique_roles(pg_database) as names:
        yield names


@pytest.fixture
def pg_warehouse(pg_database: str, demo_sources: dict[str, Source]) -> Warehouse:
    warehouse = resolve(pg_database)
    load_erp(demo_sources["erp"], warehouse)
    load_crm(demo_sources["crm"], warehouse)
    return warehouse


def _fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    return query(url, sql)


def _pii_hits(login: str) -> list[str]:
    """Every (relation, column, value) the login can read that is a demo person's PII."""
    values = pii_values()
    exact = values["name"] | values["street"]
    needles = {v.lower() for v in values["email"] | values["phone"] | values["iban"]}
    columns = _fetch(
        login,
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema not in ('pg_catalog', 'information_schema') "
        f"and data_type in {TEXT_TYPES}",
    )
    hits = []
    for schema, table, column in columns:
        rows = _fetch(login, f'select distinct "{column}" from "{schema}"."{table}"')
        for (value,) in rows:
            text = str(value).lower() if value is not None else ""
            if text in exact or (len(text) >= 8 and any(n in text for n in needles)):
                hits.append(f"{schema}.{table}.{column}={value}")
    return hits


def _check_analyst(database_url: str, roles: Roles) -> None:
    login = roles.login_url(database_url)
    readable = {
        (s, t)
        for s, t in _fetch(
            login,
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema')",
        )
    }
    assert {s for s, _ in readable} == {"staging", "marts"}
    assert {t for _, t in readable} >= MODELS
    for schema, table in readable:  # readable means readable, not just listed
        _fetch(login, f'select * from "{schema}"."{table}" limit 1')
    assert _fetch(login, "select count(*) from marts.customer_lifetime_value")[0][0] > 0
    assert _pii_hits(login) == []

    raw = _fetch(
        database_url,
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in {tuple(sorted(RAW))}",
    )
    assert {t for _, t in raw} >= {"customers", "_dlt_loads", "_dlt_version"}
    conn = psycopg2.connect(login)
    try:
        with conn.cursor() as cur:
            for schema, table in raw:
                with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
                    cur.execute(f'select * from "{schema}"."{table}" limit 1')
                conn.rollback()
            cur.execute(f"select count(*) from pg_stats where schemaname in {tuple(sorted(RAW))}")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()


def test_analyst_sees_no_personal_data(
    pg_database: str,
    pg_warehouse: Warehouse,
    demo_sources: dict[str, Source],
    roles: Roles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = grant(pg_warehouse, roles.analyst, roles.loader, sources=["erp", "crm"])
    assert set(report.raw_schemas) == RAW
    monkeypatch.setenv("KSPYDER_ANALYST_ROLE", roles.analyst)
    first = run_dbt(["build"], pg_warehouse)
    assert first.success, first.failures
    assert set(first.models) == MODELS
    assert first.tests_failed == 0
    assert first.unit_tests_passed >= 7
    create_login(pg_database, roles)
    _check_analyst(pg_database, roles)

    # an incremental load and a second dbt run: tables are rebuilt, grants still hold
    results = extract_source(demo_sources["erp"], pg_warehouse)
    assert all(r.status == "ok" for r in results), results
    second = run_dbt(["build"], pg_warehouse)
    assert second.success, second.failures
    _check_analyst(pg_database, roles)


def test_missing_analyst_role_builds_without_grants(
    pg_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSPYDER_ANALYST_ROLE", "t_no_such_role_42")
    result = run_dbt(
        ["build", "--select", "stg_erp__customers", "--indirect-selection", "buildable"],
        pg_warehouse,
    )
    assert result.success, result.failures
    assert result.models == ["stg_erp__customers"]
    assert any("does not exist" in w for w in result.warnings)
