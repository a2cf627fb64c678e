"""The warehouse loses a source between two runs: the next run rebuilds it with no manual step.

Local dlt state is a cache of the warehouse's (README, "Where things are"): when the schema is
dropped or the DuckDB file deleted, ``make_pipeline`` must notice and start the source over,
so incremental models do not load "only new rows" into an empty table. The SQL + DuckDB
file case is ``test_warehouse_file_deleted_between_runs_reloads_everything`` in
``tests/extract/test_sql_load.py``; here: a dropped PostgreSQL schema and a deleted DuckDB
file, each with an incremental SQL source and an incremental REST source, and one dropped
table, which the run of its model must notice and reload (``extract_source`` compares the
tables local state has loaded with the dataset's, one catalog query per source run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from demo.api import serve_demo_api
from extract.load import extract_source
from extract.manifest.typing import Source
from extract.warehouse import Warehouse, resolve
from tests.reliability.helpers import (
    ERP_MERGE,
    count_and_distinct,
    crm_manifest,
    cursor,
    source_from,
)

EXPECTED = {"erp.customers": 300, "erp.orders": 3000, "crm.deals": 300}
KEYS = {"erp.customers": "customer_id", "erp.orders": "order_id", "crm.deals": "id"}


@pytest.fixture
def sources(
    tmp_path: Path, manifests_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Source]]:
    """An incremental SQL source (SQLite ERP) and an incremental REST source (demo CRM)."""
    from demo.erp import build_erp

    db = tmp_path / "erp.sqlite"
    build_erp(db, customers=300, products=20, orders=3000)
    with serve_demo_api(rate_per_second=None, people_n=200) as api:
        monkeypatch.setenv("CRM_TOKEN", api.token)
        yield {
            "erp": source_from(manifests_dir, "erp", ERP_MERGE.format(db=db, chunk=1000)),
            "crm": source_from(manifests_dir, "crm", crm_manifest(api.base_url)),
        }


def _load_all(sources: dict[str, Source], warehouse: Warehouse) -> dict[str, str]:
    results = extract_source(sources["erp"], warehouse) + extract_source(
        sources["crm"], warehouse, ["deals"]
    )
    return {f"{r.source}.{r.model}": r.status for r in results}


def _drop_schemas(warehouse: Warehouse) -> None:
    conn = psycopg2.connect(warehouse.sqlalchemy_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("drop schema erp cascade")
            cur.execute("drop schema crm cascade")
    finally:
        conn.close()


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("postgres: drop schema cascade", marks=pytest.mark.postgres),
        "duckdb: warehouse file deleted",
    ],
)
def test_lost_warehouse_is_rebuilt_by_the_next_run(
    how: str, sources: dict[str, Source], request: pytest.FixtureRequest, reliability: Any
) -> None:
    if how.startswith("postgres"):
        warehouse = resolve(request.getfixturevalue("pg_database"))
    else:
        warehouse = resolve()
    first = _load_all(sources, warehouse)
    assert set(first.values()) == {"ok"}, first
    cursors = (cursor("erp", "orders"), cursor("crm", "deals"))

    if warehouse.kind == "postgres":
        _drop_schemas(warehouse)
    else:
        Path(warehouse.location).unlink()

    second = _load_all(sources, warehouse)
    counts = {t: count_and_distinct(warehouse, t, KEYS[t]) for t in EXPECTED}
    lost = sum(EXPECTED[t] - distinct for t, (_, distinct) in counts.items())
    dups = sum(count - distinct for count, distinct in counts.values())
    reliability.record(
        case=f"warehouse lost between runs ({how})",
        injected=f"{how} after a full load of an incremental SQL and REST source",
        expected="next run starts both sources over; every row back, no manual step",
        survived=int(set(second.values()) == {"ok"} and lost == dups == 0),
        rows_lost=lost,
        duplicates=dups,
        notes=f"counts after the rerun: { {t: c for t, (c, _) in counts.items()} }",
    )
    assert set(second.values()) == {"ok"}, second
    assert {t: c for t, c in counts.items()} == {t: (n, n) for t, n in EXPECTED.items()}
    assert (cursor("erp", "orders"), cursor("crm", "deals")) == cursors


def test_one_dropped_table_is_reloaded(sources: dict[str, Source], reliability: Any) -> None:
    import duckdb

    warehouse = resolve()
    assert set(_load_all(sources, warehouse).values()) == {"ok"}
    con = duckdb.connect(warehouse.location)
    try:
        con.execute("drop table erp.orders")
    finally:
        con.close()
    second = _load_all(sources, warehouse)
    count, distinct = count_and_distinct(warehouse, "erp.orders", "order_id")
    reliability.record(
        case="one raw table dropped between runs (duckdb: drop table erp.orders)",
        injected="drop table erp.orders, schema and _dlt_* tables kept",
        expected="the next run reloads orders, or fails the model naming the missing table",
        survived=int(distinct == EXPECTED["erp.orders"] or second["erp.orders"] == "failed"),
        rows_lost=EXPECTED["erp.orders"] - distinct if second["erp.orders"] == "ok" else 0,
        duplicates=count - distinct,
        notes=f"orders status {second['erp.orders']}, {distinct} rows",
    )
    assert second["erp.orders"] == "failed" or distinct == EXPECTED["erp.orders"]
