"""Several sources share one DuckDB file inside one process (the demo flow runs the ERP and
CRM extracts as concurrent Prefect tasks): a session or a check opened by one must not fail
because another already holds the file open with other settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from extract.load import extract_source, make_pipeline
from extract.warehouse import resolve
from tests.helpers import load, query

MANIFEST = """\
kind: sql
connection:
  url: sqlite:///{db}
models:
  people:
    primary_key: id
    columns:
      email: hash
"""


def _sqlite(path: Path, rows: int) -> Path:
    con = sqlite3.connect(path)
    con.execute("create table people (id integer primary key, email text)")
    con.executemany("insert into people values (?, ?)", [(i, f"p{i}@x.org") for i in range(rows)])
    con.commit()
    con.close()
    return path


def test_a_source_loads_while_another_load_holds_the_duckdb_file(tmp_path: Path) -> None:
    warehouse = resolve(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    erp = load(tmp_path, "erp", MANIFEST.format(db=_sqlite(tmp_path / "erp.db", 3)))
    crm = load(tmp_path, "crm", MANIFEST.format(db=_sqlite(tmp_path / "crm.db", 5)))
    assert [r.status for r in extract_source(erp, warehouse)] == ["ok"]

    # what a concurrent ERP load in another thread holds: dlt's own connection to the file
    with make_pipeline(erp, warehouse).sql_client() as held:
        results = extract_source(crm, warehouse)
        assert [(r.status, r.rows, r.error) for r in results] == [("ok", 5, None)]
        assert warehouse.unreadable() is None
        with warehouse.connect(read_only=True) as db:
            assert db.execute("select count(*) from crm.people") == [(5,)]
        assert held.execute_sql("select count(*) from erp.people") == [(3,)]

    assert query(warehouse.location, "select count(*) from crm.people") == [(5,)]


@pytest.mark.xfail(
    strict=True,
    reason="known bug: a writer cannot open the DuckDB file while a reader of the same "
    "process holds it read-only ('different configuration'); seen once in a fresh-clone "
    "`make demo` (ERP customers retried once by Prefect, the run succeeded)",
)
def test_a_writer_opens_the_file_while_a_reader_of_the_process_holds_it(tmp_path: Path) -> None:
    from extract.warehouse_db import open_duckdb

    location = str(tmp_path / "w.duckdb")
    open_duckdb(location, read_only=False).close()
    reader = open_duckdb(location, read_only=True)
    try:
        open_duckdb(location, read_only=False).close()
    finally:
        reader.close()
