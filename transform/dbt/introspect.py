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
    """A query function on the warehouse (``%s`` placeholders), closed on exit; read-only."""
    if warehouse.kind not in ("duckdb", "postgres"):
        raise KspyderError(f"cannot introspect a '{warehouse.kind}' destination")
    with warehouse.connect(read_only=True) as db:

        def run(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            return db.execute(sql.replace("%s", "?"), params)

        yield run


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
