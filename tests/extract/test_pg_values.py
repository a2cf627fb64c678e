"""Values PostgreSQL loads used to change: '' vs NULL through CSV COPY, NaN through Python
rows, NUL characters. Each is loaded as sent or refused with a clear error."""

from __future__ import annotations

import math
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pytest_httpserver import HTTPServer

from extract.dlt_postgres import _file_format_for, _postgres_literal
from extract.load import extract_source
from extract.warehouse import ITEMS_HINT, resolve
from tests.helpers import load, query

ESCAPE = str  # stands for dlt's escaping in the unit tests


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (float("nan"), "'NaN'"),
        (float("inf"), "'Infinity'"),
        (float("-inf"), "'-Infinity'"),
        (Decimal("NaN"), "'NaN'"),
        (Decimal("-Infinity"), "'-Infinity'"),
        (Decimal("1e400"), "1E+400"),  # finite, beyond float: dlt's own literal
        (1.5, "1.5"),
        ("plain", "plain"),
    ],
)
def test_postgres_literals(value: Any, literal: str) -> None:
    assert _postgres_literal(ESCAPE, value) == literal


def test_nul_character_literal_is_refused_naming_the_value() -> None:
    with pytest.raises(Exception, match=r"NUL character.*'a\\x00b'.*character 2 of 3"):
        _postgres_literal(ESCAPE, "a\x00b")


@pytest.mark.parametrize(
    ("items", "preferred", "chosen"),
    [
        ("arrow", "insert_values", ("csv", ["insert_values", "csv", "parquet"])),
        ("object", "insert_values", ("insert_values", ["insert_values", "parquet"])),
        ("object", "csv", ("insert_values", ["insert_values", "parquet"])),
        (None, "insert_values", ("insert_values", ["insert_values", "csv", "parquet"])),
    ],
)
def test_csv_copy_for_arrow_tables_never_for_python_rows(
    items: str | None, preferred: str, chosen: tuple[str, list[str]]
) -> None:
    table = {"name": "t", ITEMS_HINT: items} if items else {"name": "t"}
    formats = ["insert_values", "csv", "parquet"]
    assert _file_format_for(None, preferred, formats, table_schema=table) == chosen


def _seed(url: str, numeric_nan: bool = False) -> list[tuple[Any, ...]]:
    """A source table of awkward values; returns its rows as Python values."""
    rows = [
        (1, "", math.nan, Decimal("NaN") if numeric_nan else Decimal("1.25")),
        (2, None, math.inf, None),
        (3, " ", -math.inf, Decimal("2.50")),
        (4, "x", 1.5, None),
    ]
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "create table vals (id int primary key, t text, f double precision, n numeric(10,2))"
        )
        cur.executemany("insert into vals values (%s, %s, %s, %s)", rows)
    conn.close()
    return rows


def _same(got: list[tuple[Any, ...]], sent: list[tuple[Any, ...]]) -> bool:
    def equal(a: Any, b: Any) -> bool:
        if isinstance(a, float | Decimal) and a != a:
            return isinstance(b, float | Decimal) and b != b
        return bool(a == b and type(a) is type(b))

    return len(got) == len(sent) and all(
        equal(a, b)
        for row, back in zip(sent, got, strict=True)
        for a, b in zip(row, back, strict=True)
    )


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["auto", "pyarrow", "sqlalchemy"])
def test_sql_values_round_trip_into_postgres(
    backend: str, pg_source_db: str, pg_database: str, manifests_dir: Path
) -> None:
    """'' stays '', NULL stays NULL, NaN and infinities stay (CSV COPY and Python rows)."""
    # numeric NaN: only Python rows can carry it (connectorx and Arrow decimals cannot)
    sent = _seed(pg_source_db, numeric_nan=backend == "sqlalchemy")
    text = (
        f"kind: sql\nconnection: {{url: '{pg_source_db}', backend: {backend}}}\n"
        "models:\n  vals: {primary_key: id, write_disposition: merge}\n"
        "  by_query: {query: 'select id, t, f from vals', write_disposition: replace}\n"
    )
    warehouse = resolve(pg_database)
    results = extract_source(load(manifests_dir, "src", text), warehouse)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    url = warehouse.sqlalchemy_url()
    assert _same(query(url, "select id, t, f, n from src.vals order by id"), sent)
    by_query = query(url, "select id, t, f from src.by_query order by id")
    assert _same(by_query, [r[:3] for r in sent])


@pytest.mark.postgres
def test_destination_type_in_dlt_state_stays_postgres(
    pg_source_db: str, pg_database: str, manifests_dir: Path
) -> None:
    """kspyder's postgres destination is dlt's, as far as dlt's pipeline state tells."""
    from tests.reliability.helpers import local_state

    _seed(pg_source_db)
    text = f"kind: sql\nconnection: {{url: '{pg_source_db}'}}\nmodels:\n  vals: {{}}\n"
    result = extract_source(load(manifests_dir, "src", text), resolve(pg_database))[0]
    assert result.status == "ok", result.error
    assert local_state("src")["destination_type"] == "dlt.destinations.postgres"


@pytest.mark.postgres
def test_nul_character_from_a_sql_source_is_refused(
    tmp_path: Path, pg_database: str, manifests_dir: Path
) -> None:
    """PostgreSQL's COPY refuses a NUL byte: the model fails and says so."""
    db = tmp_path / "src.db"
    conn = sqlite3.connect(db)
    conn.execute("create table t (id integer primary key, s text)")
    conn.execute("insert into t values (1, ?)", ("a\x00b",))
    conn.commit()
    conn.close()
    text = f"kind: sql\nconnection: {{url: 'sqlite:///{db}'}}\nmodels:\n  t: {{}}\n"
    result = extract_source(load(manifests_dir, "src", text), resolve(pg_database))[0]
    assert result.status == "failed"
    assert "0x00" in (result.error or "")


@pytest.mark.postgres
def test_nul_character_in_a_rest_record_is_refused(
    httpserver: HTTPServer, pg_database: str, manifests_dir: Path
) -> None:
    """dlt would strip it from the INSERT; kspyder refuses, showing where it is."""
    httpserver.expect_request("/items").respond_with_json([{"id": 1, "s": "a\x00b"}])
    base = httpserver.url_for("/")
    text = (
        f"kind: rest\nclient: {{base_url: '{base}', paginator: single_page}}\n"
        "models:\n  items: {}\n"
    )
    result = extract_source(load(manifests_dir, "api", text), resolve(pg_database))[0]
    assert result.status == "failed"
    assert "NUL character" in (result.error or "")
    assert "'a\\x00b'" in (result.error or "")


@pytest.mark.postgres
def test_connectorx_panic_fails_only_that_model(
    pg_source_db: str, pg_database: str, manifests_dir: Path
) -> None:
    """connectorx panics (a BaseException) on a numeric NaN: that model fails, clearly; the
    other model of the source still loads."""
    _seed(pg_source_db, numeric_nan=True)
    text = (
        f"kind: sql\nconnection: {{url: '{pg_source_db}', backend: connectorx}}\n"
        "models:\n  vals: {primary_key: id}\n"
        "  ids: {query: 'select id from vals', write_disposition: replace}\n"
    )
    warehouse = resolve(pg_database)
    results = {r.model: r for r in extract_source(load(manifests_dir, "src", text), warehouse)}
    assert results["vals"].status == "failed"
    assert results["vals"].error
    assert results["ids"].status == "ok", results["ids"].error
    assert query(warehouse.sqlalchemy_url(), "select count(*) from src.ids") == [(4,)]
