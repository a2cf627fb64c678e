"""The one connection seam on a warehouse: a small DB-API session on DuckDB or PostgreSQL.

Statements use ``?`` placeholders on both engines; a session is one transaction, committed
when the block ends without an error (read-only sessions commit nothing). The ledger, the
HMAC key fingerprint, the aggregation tables and dbt introspection all go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from extract.errors import KspyderError

if TYPE_CHECKING:
    import duckdb

    from extract.warehouse import Warehouse

Row = tuple[Any, ...]
_QUOTED = re.compile(r'("(?:[^"]|"")*"|\'(?:[^\']|\'\')*\')')


class Session:
    """``execute`` / ``executemany`` with ``?`` placeholders on an open DB-API cursor."""

    def __init__(self, cursor: Any, postgres: bool) -> None:
        self._cursor, self._postgres = cursor, postgres

    def _sql(self, sql: str) -> str:
        if not self._postgres:
            return sql
        # ``?`` -> ``%s`` outside quoted identifiers and strings; every literal ``%`` doubled
        parts = _QUOTED.split(sql.replace("%", "%%"))
        return "".join(p if i % 2 else p.replace("?", "%s") for i, p in enumerate(parts))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; the rows it returns (none for DDL and DML)."""
        self._cursor.execute(self._sql(sql), tuple(params) if self._postgres else list(params))
        if self._cursor.description is None:
            return []
        return [tuple(r) for r in self._cursor.fetchall()]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row (batched on PostgreSQL)."""
        if not rows:
            return
        if self._postgres:
            from psycopg2.extras import execute_batch

            execute_batch(self._cursor, self._sql(sql), rows, page_size=1000)
        else:
            self._cursor.executemany(sql, [list(r) for r in rows])


@contextmanager
def connect(warehouse: Warehouse, read_only: bool = False) -> Iterator[Session]:
    """A session on the warehouse (DuckDB opened read-only when asked), closed on exit."""
    if warehouse.kind == "duckdb":
        with _duckdb(warehouse, read_only) as session:
            yield session
    elif warehouse.kind == "postgres":
        with _postgres(warehouse, read_only) as session:
            yield session
    else:
        raise KspyderError(f"'{warehouse.kind}' destinations have no SQL session")


def open_duckdb(location: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection, read-only when asked and possible.

    DuckDB refuses a second connection to a file that this process already holds open with
    other settings (a dlt load in a concurrent task holds it read-write): such a reader gets
    an ordinary connection instead, and the sessions here never write through it.
    """
    import duckdb

    try:
        return duckdb.connect(location, read_only=read_only)
    except duckdb.ConnectionException as exc:
        if not read_only or "different configuration" not in str(exc):
            raise
        return duckdb.connect(location)


@contextmanager
def _duckdb(warehouse: Warehouse, read_only: bool) -> Iterator[Session]:
    import duckdb

    try:
        con = open_duckdb(warehouse.location, read_only)
    except duckdb.Error as exc:
        raise KspyderError(f"cannot open {warehouse.display}: {exc}") from exc
    try:
        if not read_only:
            con.begin()
        yield Session(con, postgres=False)
        if not read_only:
            con.commit()
    finally:
        con.close()


@contextmanager
def _postgres(warehouse: Warehouse, read_only: bool) -> Iterator[Session]:
    import psycopg2

    try:
        conn = psycopg2.connect(warehouse.sqlalchemy_url())
    except psycopg2.Error as exc:
        raise KspyderError(f"cannot connect to {warehouse.display}: {exc}") from exc
    try:
        if read_only:
            conn.set_session(readonly=True, autocommit=True)
        with conn, conn.cursor() as cur:
            yield Session(cur, postgres=True)
    finally:
        conn.close()
