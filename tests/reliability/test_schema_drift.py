"""Schema drift between two runs: a new column under each ``schema_contract``, a type change,
a removed column, and a new column that looks like personal data.

REST records are JSON rows (dlt's contract applies row by row, in normalize); SQL tables come
as Arrow batches (the contract applies per batch, in extract). What each mode does is dlt's
documented behaviour: evolve adds the column, freeze fails the model, discard_row drops the
rows that carry the new column, discard_value drops the new column's values. The SQL evolve
case alone is ``tests/extract/test_sql_load.py::test_schema_evolution_new_column``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from extract.load import extract_source
from extract.manifest.typing import Source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query
from tests.reliability.helpers import pending_packages, source_from

CONTRACTS = ["evolve", "freeze", "discard_row", "discard_value"]
FIRST = [{"id": 1, "a": "x", "n": 1}, {"id": 2, "a": "y", "n": 2}]
SECOND = [{"id": 3, "a": "z", "n": 3, "extra": "new"}, {"id": 4, "a": "w", "n": 4}]
# what the warehouse holds after the second run: ids, and whether `extra` exists
EXPECTED = {
    "evolve": ([1, 2, 3, 4], True),
    "freeze": ([1, 2], False),
    "discard_row": ([1, 2, 4], False),
    "discard_value": ([1, 2, 3, 4], False),
}


class Records:
    """A JSON API whose ``/<model>`` answers are swapped between runs."""

    def __init__(self, server: HTTPServer) -> None:
        self.pages: dict[str, list[dict[str, Any]]] = {}
        self.server = server

    def serve(self, model: str, rows: list[dict[str, Any]]) -> None:
        if model not in self.pages:

            def answer(request: Request) -> Response:
                return Response(json.dumps(self.pages[model]), content_type="application/json")

            self.server.expect_request(f"/{model}").respond_with_handler(answer)
        self.pages[model] = rows


@pytest.fixture
def records(httpserver: HTTPServer) -> Records:
    return Records(httpserver)


def _rest(manifests_dir: Path, server: HTTPServer, contract: str, models: str = "items") -> Source:
    body = "\n".join(
        f"  {m}: {{endpoint: {{path: /{m}}}, primary_key: id, write_disposition: merge}}"
        for m in models.split(",")
    )
    text = (
        f"kind: rest\nschema_contract: {contract}\n"
        f'client: {{base_url: "{server.url_for("/")}", paginator: single_page}}\n'
        f"models:\n{body}\n"
    )
    return source_from(manifests_dir, "drift", text)


def _sql(manifests_dir: Path, db: Path, contract: str) -> Source:
    text = (
        f'kind: sql\nschema_contract: {contract}\nconnection: {{url: "sqlite:///{db}"}}\n'
        "models:\n  items: {primary_key: id, write_disposition: merge}\n"
    )
    return source_from(manifests_dir, "drift", text)


def _state(warehouse: Warehouse, table: str = "items") -> tuple[list[int], set[str]]:
    ids = [r[0] for r in query(warehouse.location, f"select id from drift.{table} order by id")]
    cols = {
        r[0]
        for r in query(
            warehouse.location,
            "select column_name from information_schema.columns "
            f"where table_schema = 'drift' and table_name = '{table}'",
        )
    }
    return ids, cols


def _sqlite(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    try:
        for sql in statements:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


@pytest.mark.parametrize("kind", ["rest", "sql"])
@pytest.mark.parametrize("contract", CONTRACTS)
def test_new_column_under_each_contract(
    contract: str,
    kind: str,
    records: Records,
    httpserver: HTTPServer,
    tmp_path: Path,
    manifests_dir: Path,
    reliability: Any,
) -> None:
    warehouse = resolve()
    db = tmp_path / "src.sqlite"
    if kind == "rest":
        source = _rest(manifests_dir, httpserver, contract)
        records.serve("items", FIRST)
    else:
        source = _sql(manifests_dir, db, contract)
        _sqlite(
            db,
            "create table items (id integer primary key, a text, n integer)",
            "insert into items values (1, 'x', 1), (2, 'y', 2)",
        )
    assert extract_source(source, warehouse)[0].status == "ok"
    if kind == "rest":
        records.serve("items", SECOND)
    else:
        _sqlite(
            db,
            "alter table items add column extra text",
            "insert into items values (3, 'z', 3, 'new'), (4, 'w', 4, null)",
        )
    result = extract_source(source, warehouse)[0]
    ids, cols = _state(warehouse)
    want_ids, want_extra = EXPECTED[contract]
    failed_clearly = result.status == "failed" and "extra" in (result.error or "")
    ok = (result.status == "ok") != (contract == "freeze")
    reliability.record(
        case=f"new column under schema_contract {contract} ({kind})",
        injected="a column `extra` appears in the second run's records",
        expected={
            "evolve": "column added, its values loaded",
            "freeze": "model fails naming the column; warehouse unchanged",
            "discard_row": "rows carrying the column are not loaded; the others are",
            "discard_value": "rows loaded without the new column",
        }[contract],
        survived=int(ok and ids == want_ids and ("extra" in cols) == want_extra),
        rows_lost=len(set(want_ids) - set(ids)),
        notes=(result.error or "")[:140],
    )
    assert ids == want_ids
    assert ("extra" in cols) == want_extra
    if contract == "freeze":
        assert failed_clearly, result.error
        assert "frozen" in (result.error or "")
    else:
        assert result.status == "ok", result.error
    if contract == "evolve":
        assert query(warehouse.location, "select extra from drift.items where id = 3") == [("new",)]


def test_freeze_violation_does_not_block_the_other_models_or_later_runs(
    records: Records, httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    warehouse = resolve()
    source = _rest(manifests_dir, httpserver, "freeze", models="items,other")
    records.serve("items", FIRST)
    records.serve("other", [{"id": 1}])
    assert {r.status for r in extract_source(source, warehouse)} == {"ok"}
    records.serve("items", SECOND)  # violates the frozen schema
    records.serve("other", [{"id": 2}])
    second = {r.model: r.status for r in extract_source(source, warehouse)}
    records.serve("items", [{"id": 5, "a": "v", "n": 5}])  # conforms again
    third = {r.model: r.status for r in extract_source(source, warehouse)}
    other_ids, _ = _state(warehouse, "other")
    stuck = pending_packages("drift")[0]
    reliability.record(
        case="freeze violation: other models and later runs",
        injected="model `items` violates the frozen schema once; `other` and later `items` "
        "records conform",
        expected="only that run of `items` fails; `other` loads; the next run of `items` loads",
        survived=int(second == {"items": "failed", "other": "ok"} and third["items"] == "ok"),
        rows_lost=2 - len(other_ids) + (third["items"] != "ok"),
        notes=f"second run {second}, third run {third}, pending packages {len(stuck)}",
    )
    assert second == {"items": "failed", "other": "ok"}
    assert third == {"items": "ok", "other": "ok"}
    assert other_ids == [1, 2]


def test_type_change_and_removed_column(
    records: Records, httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    """evolve: a text value in a bigint column lands in a variant column; a missing key is NULL."""
    warehouse = resolve()
    source = _rest(manifests_dir, httpserver, "evolve")
    records.serve("items", FIRST)
    extract_source(source, warehouse)
    records.serve("items", [{"id": 5, "a": "q", "n": "not-a-number"}, {"id": 6, "n": 6}])
    result = extract_source(source, warehouse)[0]
    ids, cols = _state(warehouse)
    rows = query(warehouse.location, "select id, a, n, n__v_text from drift.items order by id")
    reliability.record(
        case="column type change and removed column (evolve, REST)",
        injected="n: bigint then 'not-a-number'; key `a` missing from a record",
        expected="the text lands in variant column n__v_text; the missing value is NULL",
        faults=2,
        survived=int(result.status == "ok" and (5, "q", None, "not-a-number") in rows),
        rows_lost=4 - len(ids),
    )
    assert result.status == "ok", result.error
    assert "n__v_text" in cols
    assert (5, "q", None, "not-a-number") in rows
    assert (6, None, 6, None) in rows


def test_new_column_that_looks_personal_is_flagged(
    records: Records, httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    report = pytest.importorskip(
        "transform.pii_report", reason="transform.pii_report is being finished by another engineer"
    )
    warehouse = resolve()
    source = _rest(manifests_dir, httpserver, "evolve")
    records.serve("items", FIRST)
    extract_source(source, warehouse)
    records.serve(
        "items",
        [
            {"id": 7 + i, "a": "v", "n": i, "contact_value": f"person{i}@example.org"}
            for i in range(10)
        ],
    )
    assert extract_source(source, warehouse)[0].status == "ok"
    rows = report.pii_report({"drift": source}, warehouse)
    flagged = {r.column for r in rows if r.suspect and r.model == "items"}
    reliability.record(
        case="new column holding emails (name gives no hint)",
        injected="column `contact_value` with email addresses appears; no pii class declared",
        expected="kspyder pii report flags it UNCLASSIFIED from sampled values",
        survived=int("contact_value" in flagged),
        notes=f"flagged: {sorted(flagged)}",
    )
    assert "contact_value" in flagged
