"""What ``extract_source`` repairs before a model runs: pending packages and lost tables.

- a package that fails to normalize (schema contract) is dropped and its cursor rewound, so
  the rows it held are extracted again by the next run;
- a package an earlier run left pending is finished *and* the model's new rows are extracted
  in the same run (dlt's ``run`` alone would only finish the package);
- a table dropped from the warehouse (dataset kept) is reloaded in full, only for its model,
  with one information_schema query per source run.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import extract.load
from extract.load import extract_source, make_pipeline
from extract.manifest.typing import Source
from extract.sources import build_source
from extract.warehouse import Warehouse, resolve
from tests.helpers import load, query
from tests.reliability.helpers import cursor, pending_packages, wh_ref


class Api:
    """``/<model>`` answers its current rows, newer than ``updated_since`` when it is sent."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def serve(self, model: str, rows: list[dict[str, Any]]) -> None:
        if model not in self.rows:

            def answer(request: Request) -> Response:
                since = request.args.get("updated_since")
                rows = [
                    r
                    for r in self.rows[model]
                    if since is None or _ts(r["updated_at"]) > _ts(since)
                ]
                return Response(json.dumps(rows), content_type="application/json")

            self.server.expect_request(f"/{model}").respond_with_handler(answer)
        self.rows[model] = rows


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _row(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": i, "a": f"v{i}", "updated_at": f"2024-01-0{i}T00:00:00Z", **extra}


def _rest(manifests_dir: Path, server: HTTPServer, contract: str) -> Source:
    incremental = (
        '{cursor: updated_at, param: updated_since, initial_value: "2000-01-01T00:00:00Z"}'
    )
    return load(
        manifests_dir,
        "rec",
        f"kind: rest\nschema_contract: {contract}\n"
        f'client: {{base_url: "{server.url_for("/")}", paginator: single_page}}\n'
        "defaults: {primary_key: id, write_disposition: merge}\n"
        "models:\n"
        f"  items: {{endpoint: {{path: /items}}, incremental: {incremental}}}\n"
        f"  other: {{endpoint: {{path: /other}}, incremental: {incremental}}}\n",
    )


def _ids(warehouse: Warehouse, table: str) -> list[int]:
    return [r[0] for r in query(wh_ref(warehouse), f"select id from {table} order by id")]


def _statuses(source: Source, warehouse: Warehouse) -> dict[str, str]:
    return {r.model: r.status for r in extract_source(source, warehouse)}


def test_freeze_violation_rewinds_the_cursor_so_its_rows_come_again(
    httpserver: HTTPServer, manifests_dir: Path
) -> None:
    api, warehouse = Api(httpserver), resolve()
    source = _rest(manifests_dir, httpserver, "freeze")
    api.serve("items", [_row(1), _row(2)])
    api.serve("other", [_row(1)])
    assert set(_statuses(source, warehouse).values()) == {"ok"}
    before = cursor("rec", "items")

    api.serve("items", [_row(1), _row(2), _row(3, extra="new")])  # violates the frozen schema
    api.serve("other", [_row(1), _row(2)])
    results = extract_source(source, warehouse)
    assert {r.model: r.status for r in results} == {"items": "failed", "other": "ok"}
    assert "frozen" in (results[0].error or "")
    assert cursor("rec", "items") == before, "the cursor advanced past rows never loaded"
    assert pending_packages("rec") == ([], [])

    api.serve("items", [_row(1), _row(2), _row(3), _row(4)])  # row 3 conforms again
    assert _statuses(source, warehouse) == {"items": "ok", "other": "ok"}
    assert _ids(warehouse, "rec.items") == [1, 2, 3, 4]
    assert _ids(warehouse, "rec.other") == [1, 2]


def _sqlite(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    try:
        for sql in statements:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


def _sql_source(manifests_dir: Path, db: Path) -> Source:
    return load(
        manifests_dir,
        "erp",
        f'kind: sql\nconnection: {{url: "sqlite:///{db}"}}\n'
        "defaults: {primary_key: id, write_disposition: merge, "
        "incremental: {cursor: id, initial_value: 0}}\n"
        "models:\n  items: {}\n  orders: {}\n",
    )


@pytest.fixture
def erp(tmp_path: Path, manifests_dir: Path) -> tuple[Path, Source]:
    db = tmp_path / "erp.sqlite"
    _sqlite(
        db,
        "create table items (id integer primary key, name text)",
        "create table orders (id integer primary key, item_id integer)",
        "insert into items values (1, 'a'), (2, 'b')",
        "insert into orders values (1, 1), (2, 2), (3, 1)",
    )
    return db, _sql_source(manifests_dir, db)


def test_pending_package_is_finished_and_new_rows_are_extracted_in_one_run(
    erp: tuple[Path, Source],
) -> None:
    db, source = erp
    warehouse = resolve()
    assert set(_statuses(source, warehouse).values()) == {"ok"}
    _sqlite(db, "insert into items values (3, 'c')")
    pipeline = make_pipeline(source, warehouse)  # a run that stopped before its load
    pipeline.extract(build_source(source, ["items"]))
    pipeline.normalize()
    assert pending_packages("erp")[1]

    _sqlite(db, "insert into items values (4, 'd')")
    assert set(_statuses(source, warehouse).values()) == {"ok"}
    assert _ids(warehouse, "erp.items") == [1, 2, 3, 4]
    assert pending_packages("erp") == ([], [])


def _load_ids(warehouse: Warehouse, table: str) -> set[str]:
    return {r[0] for r in query(wh_ref(warehouse), f"select _dlt_load_id from {table}")}


@pytest.mark.postgres
def test_dropped_table_is_reloaded_alone_with_one_catalog_query(
    erp: tuple[Path, Source], pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, source = erp
    warehouse = resolve(pg_database)
    calls: list[int] = []
    real = extract.load._dataset_tables

    def counted(pipeline: Any) -> set[str]:
        calls.append(1)
        return real(pipeline)

    monkeypatch.setattr(extract.load, "_dataset_tables", counted)
    assert set(_statuses(source, warehouse).values()) == {"ok"}
    assert calls == [], "a first run has no local state to check"
    assert set(_statuses(source, warehouse).values()) == {"ok"}
    assert calls == [1], "one catalog query per source run"
    items_loads = _load_ids(warehouse, "erp.items")
    conn = psycopg2.connect(warehouse.sqlalchemy_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("drop table erp.orders")
    finally:
        conn.close()

    assert set(_statuses(source, warehouse).values()) == {"ok"}
    assert _ids(warehouse, "erp.orders") == [1, 2, 3]
    assert _ids(warehouse, "erp.items") == [1, 2]
    # items keeps its first load (a merge model re-reads only its high-water-mark row)
    assert min(_load_ids(warehouse, "erp.items")) == min(items_loads), "items was reloaded too"
    assert cursor("erp", "orders", "id") == 3
    assert len(calls) == 2


def test_dropped_nested_table_reloads_its_model(
    httpserver: HTTPServer, manifests_dir: Path
) -> None:
    import duckdb

    api, warehouse = Api(httpserver), resolve()
    source = _rest(manifests_dir, httpserver, "evolve")
    api.serve("items", [_row(1, tags=["x", "y"]), _row(2, tags=["z"])])
    api.serve("other", [_row(1)])
    assert set(_statuses(source, warehouse).values()) == {"ok"}
    con = duckdb.connect(warehouse.location)
    try:
        con.execute("drop table rec.items__tags")
    finally:
        con.close()

    assert set(_statuses(source, warehouse).values()) == {"ok"}
    tags = query(warehouse.location, "select value from rec.items__tags order by value")
    assert tags == [("x",), ("y",), ("z",)]
    assert _ids(warehouse, "rec.items") == [1, 2]
