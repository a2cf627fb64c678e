"""Write flattened aggregation rows as a warehouse table (DuckDB or PostgreSQL), replaced whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from extract.warehouse import Warehouse


def quote(name: str) -> str:
    """A double-quoted SQL identifier (dotted CSV-style column names stay one column)."""
    return '"' + name.replace('"', '""') + '"'


def sql_type(values: Sequence[Any]) -> str:
    """The narrowest column type holding every non-null value (text when mixed)."""
    present = [v for v in values if v is not None]
    if not present:
        return "text"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "bigint"
    if all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present):
        return "double precision"
    if all(isinstance(v, dt.datetime) for v in present):
        return "timestamp"
    return "text"


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "double precision":
        return float(value)
    if kind == "text" and not isinstance(value, str):
        return str(value)
    return value


def replace_table(
    warehouse: Warehouse, schema: str, table: str, columns: list[str], rows: list[dict[str, Any]]
) -> None:
    """Drop and recreate ``schema.table`` with inferred column types, in one transaction.

    With no rows there are no columns: the old table is dropped and none is created.
    """
    types = {c: sql_type([r.get(c) for r in rows]) for c in columns}
    target = f"{quote(schema)}.{quote(table)}"
    statements = [f"create schema if not exists {quote(schema)}", f"drop table if exists {target}"]
    if columns:
        body = ", ".join(f"{quote(c)} {types[c]}" for c in columns)
        statements.append(f"create table {target} ({body})")
    values = [tuple(_cell(r.get(c), types[c]) for c in columns) for r in rows]
    with warehouse.connect() as db:
        for sql in statements:
            db.execute(sql)
        if values:
            db.executemany(f"insert into {target} values ({', '.join('?' * len(columns))})", values)
