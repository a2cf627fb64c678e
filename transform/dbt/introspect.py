"""Read the warehouse's own description of itself: columns per table, sample values.

One small facade over DuckDB (the file, opened read-only) and PostgreSQL (psycopg2), so
the staging generator and the PII report never care which warehouse they look at.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from extract.errors import KspyderError

if TYPE_CHECKING:
    from extract.warehouse import Warehouse

DLT_PREFIX = "_dlt_"


class Query(Protocol):
    """Run one parametrised query (``%s`` placeholders) and return every row."""

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


def available(warehouse: Warehouse | None) -> bool:
    """True when there is a warehouse to look at (a DuckDB file must already exist)."""
    if warehouse is None or warehouse.kind not in ("duckdb", "postgres"):
        return False
    return warehouse.kind == "postgres" or Path(warehouse.location).exists()


@contextmanager
def connect(warehouse: Warehouse) -> Iterator[Query]:
    """A query function on the warehouse, closed on exit; DuckDB is opened read-only."""
    if warehouse.kind == "duckdb":
        import duckdb

        try:
            con = duckdb.connect(warehouse.location, read_only=True)
        except duckdb.Error as exc:
            raise KspyderError(f"cannot read {warehouse.display}: {exc}") from exc

        def run_duckdb(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            return list(con.execute(sql.replace("%s", "?"), list(params)).fetchall())

        try:
            yield run_duckdb
        finally:
            con.close()
        return
    if warehouse.kind != "postgres":
        raise KspyderError(f"cannot introspect a '{warehouse.kind}' destination")
    import psycopg2

    try:
        pg = psycopg2.connect(warehouse.sqlalchemy_url())
    except psycopg2.Error as exc:
        raise KspyderError(f"cannot connect to {warehouse.display}: {exc}") from exc
    pg.set_session(readonly=True, autocommit=True)

    def run_postgres(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with pg.cursor() as cur:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())

    try:
        yield run_postgres
    finally:
        pg.close()


def table_columns(query: Query, schema: str) -> dict[str, list[tuple[str, str]]]:
    """``{table: [(column, data_type), ...]}`` of one schema, in column order."""
    rows = query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = %s order by table_name, ordinal_position",
        (schema,),
    )
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(str(table), []).append((str(column), str(data_type)))
    return tables


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (valid in DuckDB and PostgreSQL)."""
    return '"' + identifier.replace('"', '""') + '"'


def sample_values(query: Query, schema: str, table: str, column: str, limit: int) -> list[str]:
    """Up to ``limit`` distinct non-null values of a column, as text."""
    name = quote(column)
    sql = (
        f"select distinct cast({name} as varchar) from {quote(schema)}.{quote(table)} "
        f"where {name} is not null limit {int(limit)}"
    )
    return [str(row[0]) for row in query(sql)]
