"""Hostile identifiers: SQL injection in manifest names, and hostile column names in the data.

Manifest names (sources, models) must be safe SQL identifiers and are refused before anything
runs. Names that come with the data (columns of a SQL table, keys of REST records) are not
ours to choose: they must be loaded quoted or renamed, and no injected statement may run,
which is checked by a sentinel table ``t`` kept in the source and in the warehouse.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from extract.errors import ConfigError
from extract.load import extract_source
from extract.manifest.loader import parse_source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query, write_manifest
from tests.reliability.helpers import run_cli, source_from, table_exists, wh_ref

INJECTION = 'x"; drop schema erp cascade; --'
HOSTILE_COLUMNS = {
    "id": 1,
    'x"; drop table t; --': "injected",
    "名前": "unicode",
    "Order": "reserved",
    "select": "keyword",
    "c" * 200: "long",
    "a b": "space",
    "x'); delete from t; --": "quote",
}
WAREHOUSES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def _warehouse(which: str, request: pytest.FixtureRequest) -> Warehouse:
    if which == "postgres":
        return resolve(request.getfixturevalue("pg_database"))
    return resolve()


def _sentinel(warehouse: Warehouse) -> None:
    """A table ``t`` (and a schema ``erp`` with one) that injected SQL would drop."""
    statements = [
        "create schema if not exists erp",
        "create table erp.t (a int)",
        "create table t (a int)",
        "insert into t values (1)",
    ]
    if warehouse.kind == "postgres":
        conn = psycopg2.connect(warehouse.sqlalchemy_url())
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        conn.close()
    else:
        import duckdb

        con = duckdb.connect(warehouse.location)
        for sql in statements:
            con.execute(sql)
        con.close()


def _sentinels_intact(warehouse: Warehouse) -> bool:
    main = "public" if warehouse.kind == "postgres" else "main"
    return (
        table_exists(warehouse, main, "t")
        and table_exists(warehouse, "erp", "t")
        and query(wh_ref(warehouse), "select count(*) from t") == [(1,)]
    )


def test_injection_in_manifest_names_is_refused(manifests_dir: Path, reliability: Any) -> None:
    model_text = f"kind: sql\nconnection: {{url: 'sqlite://'}}\nmodels:\n  '{INJECTION}': {{}}\n"
    refused = 0
    with pytest.raises(ConfigError) as by_model:
        parse_source(write_manifest(manifests_dir, "src", model_text))
    refused += "is not a safe SQL identifier" in str(by_model.value)
    hostile = manifests_dir / f"{INJECTION}.yml"
    hostile.write_text("kind: sql\nconnection: {url: 'sqlite://'}\nmodels: [a]\n")
    with pytest.raises(ConfigError) as by_file:
        parse_source(hostile)
    refused += "is not a safe SQL identifier" in str(by_file.value)
    reliability.record(
        case="SQL injection in source and model names",
        injected=f"model key and manifest file name `{INJECTION}`",
        expected="ConfigError: not a safe SQL identifier, before anything runs",
        faults=2,
        survived=refused,
    )
    assert refused == 2
    assert "src.yml:4 models." in str(by_model.value)
    assert " name: " in str(by_file.value)


def _flat(text: str) -> str:
    """Console output without the line wrapping Rich adds."""
    return " ".join(text.split())


@pytest.mark.slow
@pytest.mark.postgres
def test_injection_through_the_command_line_runs_nothing(
    tmp_path: Path, manifests_dir: Path, pg_database: str, reliability: Any
) -> None:
    db = tmp_path / "erp.sqlite"
    con = sqlite3.connect(db)
    con.execute("create table orders (id integer primary key)")
    con.execute("insert into orders values (1), (2)")
    con.commit()
    con.close()
    write_manifest(
        manifests_dir,
        "erp",
        f"kind: sql\nconnection: {{url: 'sqlite:///{db}'}}\nmodels:\n"
        "  orders: {primary_key: id, write_disposition: merge}\n",
    )
    assert run_cli("extract", "erp", "--warehouse", pg_database).returncode == 0
    by_source = run_cli("extract", INJECTION, "--warehouse", pg_database)
    by_model = run_cli("extract", "erp", "--model", INJECTION, "--warehouse", pg_database)
    (manifests_dir / f"{INJECTION}.yml").write_text("kind: sql\nmodels: [a]\n")
    by_file = run_cli("extract", "--warehouse", pg_database)
    warehouse = resolve(pg_database)
    kept = query(wh_ref(warehouse), "select count(*) from erp.orders") == [(2,)]
    codes = (by_source.returncode, by_model.returncode, by_file.returncode)
    reliability.record(
        case="SQL injection through `kspyder extract` arguments and file names",
        injected=f"`kspyder extract '{INJECTION}'`, `--model '{INJECTION}'`, a manifest "
        "file with that name",
        expected="refused (exit 1 or 2) naming the problem; schema erp and its rows intact",
        faults=3,
        survived=sum(c != 0 for c in codes) if kept else 0,
        rows_lost=0 if kept else 2,
        notes=f"exit codes {codes}",
    )
    assert kept, "erp.orders lost rows or was dropped"
    assert by_source.returncode == 2
    assert "Invalid source(s)" in _flat(by_source.stderr)
    assert by_model.returncode != 0
    assert "Invalid model(s)" in _flat(by_model.stderr)
    assert by_file.returncode == 2
    assert "is not a safe SQL identifier" in _flat(by_file.stderr)


def _hostile_sqlite(db: Path) -> None:
    con = sqlite3.connect(db)
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in HOSTILE_COLUMNS)
    con.execute(f"create table hostile ({cols})")
    con.execute(
        f"insert into hostile values ({', '.join('?' * len(HOSTILE_COLUMNS))})",
        list(HOSTILE_COLUMNS.values()),
    )
    con.execute("create table t (a int)")
    con.execute('create table collide (id integer, "E-mail" text, e_mail text)')
    con.execute("insert into collide values (1, 'a@example.org', 'b@example.org')")
    con.commit()
    con.close()


def _loaded_values(warehouse: Warehouse, schema: str, table: str) -> set[Any]:
    cols = [
        r[0]
        for r in query(
            wh_ref(warehouse),
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}'",
        )
        if not r[0].startswith("_dlt")
    ]
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
    return set(query(wh_ref(warehouse), f'select {quoted} from {schema}."{table}"')[0])


@pytest.mark.parametrize("which", WAREHOUSES)
def test_hostile_column_names_in_a_sql_source(
    which: str,
    tmp_path: Path,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    warehouse = _warehouse(which, request)
    _sentinel(warehouse)
    db = tmp_path / "src.sqlite"
    _hostile_sqlite(db)
    text = (
        f"kind: sql\nconnection: {{url: 'sqlite:///{db}'}}\nmodels:\n"
        "  hostile: {write_disposition: replace}\n"
        "  collide: {write_disposition: replace}\n"
        "  sneaky:\n    table: 'x\"; drop table t; --'\n"
        "  by_query:\n    query: select id from hostile\n"
        "    incremental: {cursor: 'id\" is not null; drop table t; --', initial_value: 0}\n"
    )
    source = source_from(manifests_dir, "src", text)
    results = {r.model: r for r in extract_source(source, warehouse)}
    values: set[Any] = set()
    if results["hostile"].status == "ok":
        values = _loaded_values(warehouse, "src", "hostile")
    source_t = sqlite3.connect(db).execute("select count(*) from sqlite_master where name='t'")
    intact = _sentinels_intact(warehouse) and source_t.fetchone() == (1,)
    refused = {m for m in ("collide", "sneaky", "by_query") if results[m].status == "failed"}
    reliability.record(
        case=f"hostile column names in a SQL source ({which})",
        injected='columns `x"; drop table t; --`, `名前`, `Order`, `select`, 200 x `c`, `a b`; '
        "`E-mail` + `e_mail`; an injected table name and cursor",
        expected="hostile names loaded renamed with every value; the colliding pair, the "
        "table and the cursor refused clearly; no statement injected",
        faults=4,
        survived=int(intact) * (int(values == set(HOSTILE_COLUMNS.values())) + len(refused)),
        rows_lost=len(set(HOSTILE_COLUMNS.values()) - values),
        notes="; ".join(f"{m}: {(results[m].error or '')[:80]}" for m in sorted(refused)),
    )
    assert intact, "a sentinel table disappeared"
    assert results["hostile"].status == "ok", results["hostile"].error
    assert values == set(HOSTILE_COLUMNS.values())
    assert "NameNormalizationCollision" in (results["collide"].error or "")
    assert refused == {"collide", "sneaky", "by_query"}


def _serve(server: HTTPServer, path: str, rows: list[dict[str, Any]]) -> None:
    body = json.dumps(rows)
    server.expect_request(path).respond_with_handler(
        lambda request: Response(body, content_type="application/json")
    )


def _rest_source(manifests_dir: Path, server: HTTPServer, model: str) -> Any:
    text = (
        f'kind: rest\nclient: {{base_url: "{server.url_for("/")}", paginator: single_page}}\n'
        f"models:\n  {model}: {{endpoint: {{path: /{model}}}, write_disposition: replace}}\n"
    )
    return source_from(manifests_dir, "api", text)


@pytest.mark.parametrize("which", WAREHOUSES)
def test_hostile_keys_in_rest_records(
    which: str,
    httpserver: HTTPServer,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    warehouse = _warehouse(which, request)
    _sentinel(warehouse)
    _serve(httpserver, "/hostile", [HOSTILE_COLUMNS])
    result = extract_source(_rest_source(manifests_dir, httpserver, "hostile"), warehouse)[0]
    values = _loaded_values(warehouse, "api", "hostile") if result.status == "ok" else set()
    intact = _sentinels_intact(warehouse)
    reliability.record(
        case=f"hostile keys in REST records ({which})",
        injected='record keys `x"; drop table t; --`, `名前`, `Order`, `select`, 200 x `c`, `a b`',
        expected="loaded renamed with every value; no statement injected",
        survived=int(intact and values == set(HOSTILE_COLUMNS.values())),
        rows_lost=len(set(HOSTILE_COLUMNS.values()) - values),
    )
    assert intact
    assert result.status == "ok", result.error
    assert values == set(HOSTILE_COLUMNS.values())


def test_colliding_keys_in_rest_records_are_not_merged_silently(
    httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    warehouse = resolve()
    row = {"id": 1, "E-mail": "a@example.org", "e_mail": "b@example.org", "名前": "n", "😀": "e"}
    _serve(httpserver, "/collide", [row])
    result = extract_source(_rest_source(manifests_dir, httpserver, "collide"), warehouse)[0]
    values = _loaded_values(warehouse, "api", "collide") if result.status == "ok" else set()
    kept = {v for v in row.values() if v in values}
    reliability.record(
        case="colliding keys in REST records (`E-mail`/`e_mail`, `名前`/emoji)",
        injected="one record with two pairs of keys that normalize to the same column",
        expected="both values kept (renamed), or the model fails naming the collision",
        survived=int(result.status == "failed" or kept == set(row.values())),
        rows_lost=len(set(row.values()) - kept) if result.status == "ok" else 0,
        notes=f"status {result.status}; values kept {sorted(map(str, kept))}",
    )
    assert result.status == "failed" or kept == set(row.values())
