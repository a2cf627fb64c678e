"""Awkward values: NULLs everywhere, NaN and infinities, 1 MB strings, unicode, nested arrays.

Each must be loaded faithfully (the value read back equals the value sent) or refused with a
clear error; a value changed without notice is a failure. SQL values come from PostgreSQL
(default backend: connectorx, Arrow), REST values from a JSON API; both land in DuckDB and in
PostgreSQL.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from extract.load import extract_source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query
from tests.reliability.helpers import source_from, wh_ref

pytestmark = pytest.mark.postgres
BIG = "é" * 500_000  # 1,000,000 bytes of UTF-8
UNICODE = "😀 名前 עברית e\u0301 \u200b\U0001f1eb\U0001f1f7 \\ ' \" ;"
SQL_ROWS = [
    (1, "NaN", "Infinity", BIG, '{"k": [1, [2, 3]], "s": "😀"}'),
    (2, "Infinity", "-Infinity", UNICODE, None),
    (3, "-Infinity", "NaN", "x", "[]"),
    (4, None, None, None, None),
    (5, "1.5", "2.5", "plain", '{"a": null}'),
]
WAREHOUSES = ["duckdb", "postgres"]


def _warehouse(which: str, request: pytest.FixtureRequest) -> Warehouse:
    if which == "postgres":
        return resolve(request.getfixturevalue("pg_database"))
    return resolve()


def _same(sent: Any, got: Any) -> bool:
    if isinstance(sent, str) and sent in ("NaN", "Infinity", "-Infinity", "1.5", "2.5"):
        sent = float(sent)
    if isinstance(sent, float) and math.isnan(sent):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(got, str) and isinstance(sent, str) and sent[:1] in ("[", "{"):
        return bool(json.loads(got) == json.loads(sent))
    if isinstance(got, dict | list) and isinstance(sent, str):
        return bool(got == json.loads(sent))
    return bool(sent == got)


def _differences(sent: list[tuple[Any, ...]], got: list[tuple[Any, ...]]) -> list[str]:
    diffs = []
    by_id = {row[0]: row for row in got}
    for row in sent:
        back = by_id.get(row[0])
        if back is None:
            diffs.append(f"row {row[0]} missing")
            continue
        for i, (a, b) in enumerate(zip(row, back, strict=True)):
            if not _same(a, b):
                diffs.append(f"row {row[0]} column {i}: sent {str(a)[:30]!r} got {str(b)[:30]!r}")
    return diffs


@pytest.mark.parametrize("which", WAREHOUSES)
def test_sql_values_round_trip(
    which: str,
    pg_source_db: str,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    conn = psycopg2.connect(pg_source_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "create table vals (id int primary key, f double precision, r real, t text, j jsonb)"
        )
        cur.executemany("insert into vals values (%s, %s, %s, %s, %s)", SQL_ROWS)
    conn.close()
    warehouse = _warehouse(which, request)
    text = (
        f"kind: sql\nconnection: {{url: '{pg_source_db}'}}\n"
        "models:\n  vals: {primary_key: id, write_disposition: merge}\n"
    )
    result = extract_source(source_from(manifests_dir, "vals", text), warehouse)[0]
    got = (
        query(wh_ref(warehouse), "select id, f, r, t, j from vals.vals order by id")
        if result.status == "ok"
        else []
    )
    diffs = _differences(SQL_ROWS, got) if got else ["not loaded"]
    reliability.record(
        case=f"awkward SQL values, PostgreSQL source -> {which}",
        injected="NaN, ±Infinity (double, real), a 1 MB string, emoji/CJK/RTL/combining text, "
        "jsonb documents, a row of NULLs",
        expected="every value read back equal",
        faults=5,
        survived=5 - len({d.split()[1] for d in diffs if d.startswith("row")}),
        notes="; ".join(diffs)[:200],
    )
    assert result.status == "ok", result.error
    assert diffs == []


REST_ROWS = [
    {
        "id": 1,
        "big": BIG,
        "text": UNICODE,
        "tags": ["a", "😀"],
        "matrix": [[1, 2], [3]],
        "people": [{"name": "名前", "roles": ["x", "y"]}],
        "flag": True,
        "n": 1,
    },
    {"id": 2, "big": "", "text": None, "tags": [], "matrix": [], "people": None, "n": None},
    {"id": 3},
]


def _serve(server: HTTPServer, path: str, body: str) -> None:
    server.expect_request(path).respond_with_handler(
        lambda request: Response(body, content_type="application/json")
    )


def _rest(manifests_dir: Path, server: HTTPServer, model: str) -> Any:
    text = (
        f'kind: rest\nclient: {{base_url: "{server.url_for("/")}", paginator: single_page}}\n'
        f"models:\n  {model}: {{endpoint: {{path: /{model}}}, primary_key: id, "
        "write_disposition: merge}\n"
    )
    return source_from(manifests_dir, "api", text)


def _child(warehouse: Warehouse, table: str, columns: str) -> list[tuple[Any, ...]]:
    return query(
        wh_ref(warehouse),
        f"select p.id, {columns} from api.{table} c join api.items p on c._dlt_root_id = p._dlt_id "
        "order by p.id, c._dlt_list_idx",
    )


@pytest.mark.parametrize("which", WAREHOUSES)
def test_rest_values_round_trip(
    which: str,
    httpserver: HTTPServer,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    warehouse = _warehouse(which, request)
    _serve(httpserver, "/items", json.dumps(REST_ROWS))
    result = extract_source(_rest(manifests_dir, httpserver, "items"), warehouse)[0]
    assert result.status == "ok", result.error
    ref = wh_ref(warehouse)
    top = query(ref, "select id, big, text, flag, n from api.items order by id")
    tags = _child(warehouse, "items__tags", "c.value")
    matrix = query(
        ref,
        "select l._dlt_parent_id, l.value from api.items__matrix__list l "
        "join api.items__matrix m on l._dlt_parent_id = m._dlt_id "
        "order by m._dlt_list_idx, l._dlt_list_idx",
    )
    people = _child(warehouse, "items__people", "c.name")
    roles = query(ref, "select value from api.items__people__roles order by _dlt_list_idx")
    checks = {
        "top-level values": top
        == [(1, BIG, UNICODE, True, 1), (2, "", None, None, None), (3, None, None, None, None)],
        "list of strings": tags == [(1, "a"), (1, "😀")],
        "list of lists": [v for _, v in matrix] == [1, 2, 3] and len({p for p, _ in matrix}) == 2,
        "list of objects with a list": people == [(1, "名前")] and roles == [("x",), ("y",)],
    }
    failed = [name for name, ok in checks.items() if not ok]
    reliability.record(
        case=f"awkward REST values -> {which}",
        injected="1 MB strings, an empty string, unicode, NULLs and missing keys, nested arrays "
        "(list of lists, list of objects holding lists)",
        expected="top-level values equal; nested arrays in child tables, order kept",
        faults=len(checks),
        survived=len(checks) - len(failed),
        notes=f"failed: {failed}" if failed else "",
    )
    assert failed == [], (top[:1], tags, matrix, people, roles)


def test_nan_in_rest_json_is_refused_clearly(
    httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    """``NaN``/``Infinity`` are not JSON (RFC 8259): the page is refused, naming it."""
    _serve(httpserver, "/items", '[{"id": 1, "f": NaN}, {"id": 2, "f": Infinity}]')
    result = extract_source(_rest(manifests_dir, httpserver, "items"), resolve())[0]
    error = result.error or ""
    clear = result.status == "failed" and "model 'items' page 1" in error and "JSON" in error
    reliability.record(
        case="NaN / Infinity literals in a REST response",
        injected='a page `[{"id": 1, "f": NaN}, {"id": 2, "f": Infinity}]`',
        expected="refused: not JSON; the error names source, model and page",
        survived=int(clear),
        notes=error[:140],
    )
    assert clear, error


def test_nul_character_is_kept_or_refused_on_postgres(
    httpserver: HTTPServer,
    manifests_dir: Path,
    pg_database: str,
    reliability: Any,
) -> None:
    warehouse = resolve(pg_database)
    _serve(httpserver, "/items", json.dumps([{"id": 1, "s": "a\x00b"}]))
    result = extract_source(_rest(manifests_dir, httpserver, "items"), warehouse)[0]
    got = None
    if result.status == "ok":
        got = query(wh_ref(warehouse), "select s from api.items")[0][0]
    reliability.record(
        case="NUL character in a string -> postgres",
        injected='a REST record {"s": "a\\u0000b"}',
        expected="stored as sent, or the model fails naming the value",
        survived=int(result.status == "failed" or got == "a\x00b"),
        notes=f"status {result.status}, stored {got!r}",
    )
    assert result.status == "failed" or got == "a\x00b"


def test_sqlalchemy_backend_keeps_non_finite_floats(
    pg_source_db: str, manifests_dir: Path, reliability: Any
) -> None:
    conn = psycopg2.connect(pg_source_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table vals (id int primary key, f double precision)")
        cur.execute("insert into vals values (1, 'NaN'), (2, 'Infinity'), (3, 1.5)")
    conn.close()
    text = (
        f"kind: sql\nconnection: {{url: '{pg_source_db}', backend: sqlalchemy}}\n"
        "models:\n  vals: {primary_key: id, write_disposition: merge}\n"
    )
    warehouse = resolve()
    result = extract_source(source_from(manifests_dir, "vals", text), warehouse)[0]
    got = query(warehouse.location, "select f from vals.vals order by id")
    kept = [
        isinstance(v, float) and (math.isnan(v) if i == 0 else math.isinf(v))
        for i, (v,) in enumerate(got[:2])
    ]
    reliability.record(
        case="NaN / Infinity through `backend: sqlalchemy`",
        injected="double precision NaN and Infinity in a PostgreSQL source",
        expected="values kept, or refused clearly",
        faults=2,
        survived=sum(kept) if result.status == "ok" else 0,
        notes=f"read back {got}",
    )
    assert result.status == "ok"
    assert all(kept)
    assert len(kept) == 2


def test_empty_string_stays_empty_on_postgres(
    pg_source_db: str, pg_database: str, manifests_dir: Path, reliability: Any
) -> None:
    conn = psycopg2.connect(pg_source_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table vals (id int primary key, t text)")
        cur.execute("insert into vals values (1, ''), (2, null), (3, ' ')")
    conn.close()
    warehouse = resolve(pg_database)
    text = (
        f"kind: sql\nconnection: {{url: '{pg_source_db}'}}\n"
        "models:\n  vals: {primary_key: id, write_disposition: merge}\n"
    )
    result = extract_source(source_from(manifests_dir, "vals", text), warehouse)[0]
    got = query(wh_ref(warehouse), "select id, t from vals.vals order by id")
    reliability.record(
        case="empty string vs NULL, SQL source -> postgres (CSV COPY)",
        injected="text values '', NULL and ' ' in a PostgreSQL source",
        expected="'' stays '', NULL stays NULL",
        faults=1,
        survived=int(result.status == "ok" and got == [(1, ""), (2, None), (3, " ")]),
        notes=f"read back {got}",
    )
    assert got == [(1, ""), (2, None), (3, " ")]
