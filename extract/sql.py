"""``kind: sql`` sources: dlt's ``sql_table`` per model, Arrow batches, or a custom query."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources import DltResource, DltSource
from dlt.sources.sql_database import sql_table

from extract.manifest.typing import Model, Source
from extract.pii import column_paths
from extract.warehouse import ITEMS_HINT


def _as_cursor_value(value: Any) -> Any:
    """ISO timestamps written as strings become datetimes, as SQL drivers return them."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _incremental(model: Model) -> Any:
    inc = model.incremental
    if inc is None:
        return None
    return dlt.sources.incremental(
        inc.cursor,
        initial_value=_as_cursor_value(inc.initial_value),
        end_value=_as_cursor_value(inc.end_value),
        row_order=inc.row_order,
    )


def _engine(source: Source) -> sa.Engine:
    assert source.connection is not None
    return sa.create_engine(source.connection.url, pool_pre_ping=True)


def _table_resource(source: Source, model: Model, engine: sa.Engine) -> DltResource:
    assert source.connection is not None
    conn = source.connection
    backend = conn.backend
    if backend == "auto":
        backend = "connectorx" if conn.url.startswith(("postgres", "postgresql")) else "pyarrow"
    kwargs: dict[str, Any] = {}
    if backend == "connectorx":
        # stream Arrow batches of chunk_size rows: memory stays bounded whatever the table size
        kwargs["backend_kwargs"] = {
            "conn": conn.url,
            "return_type": "arrow_stream",
            "batch_size": conn.chunk_size,
        }
        kwargs["table_loader_class"] = partitioned_loader()
    resource = sql_table(
        credentials=engine,
        table=model.table or model.name,
        schema=conn.schema_name,
        incremental=_incremental(model),
        chunk_size=conn.chunk_size,
        backend=backend,
        reflection_level="full",
        type_adapter_callback=_float_as_double,
        excluded_columns=column_paths(model, "drop") or None,
        **kwargs,
    )
    if backend == "sqlalchemy":  # Python rows, not Arrow
        resource.add_map(_keep_non_finite)
    resource.apply_hints(additional_table_hints={ITEMS_HINT: _items(backend)})
    return resource.with_name(model.name)


READ_PARTITIONS_ENV = "KSPYDER_READ_PARTITIONS"
"""Parallel connectorx reads of a full table (default 2, one per core here; 1 turns it off)."""


def read_partitions(table: sa.Table, incremental: Any, limited: bool) -> dict[str, Any]:
    """connectorx ``partition_on`` arguments for a full read of ``table``, or none.

    Only a single-column integer primary key is split (connectorx splits ``min..max`` into
    ranges; a key is never NULL, so no row falls outside them). Incremental and limited
    reads (``add_limit``, previews) keep one ordered stream: their cursor and order rely on it.
    """
    parts = int(os.environ.get(READ_PARTITIONS_ENV) or 2)
    key = list(table.primary_key.columns)
    if parts < 2 or incremental is not None or limited or len(key) != 1:
        return {}
    if not isinstance(key[0].type, sa.Integer):
        return {}
    return {"partition_on": key[0].name, "partition_num": parts}


SAFE_SPAN = 2**62
"""connectorx computes its ranges in 64-bit integers: a key span wider than this, or a key at
the largest bigint, silently reads no rows at all (measured with connectorx 0.4), so such
tables are read as one stream."""


def key_range(engine: sa.Engine, table: sa.Table, key: str) -> tuple[int, int] | None:
    """The key's (min, max), or None when the table is empty or the span is unsafe."""
    column = table.c[key]
    with engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
    if row[0] is None or row[1] is None:
        return None
    low, high = int(row[0]), int(row[1])
    return None if high - low >= SAFE_SPAN or high >= 2**63 - 1 else (low, high)


@functools.cache
def partitioned_loader() -> type[Any]:
    """dlt's connectorx table loader, reading a table in parallel ranges of its key."""
    from dlt.sources.sql_database.helpers import ConnectorXTableLoader

    class PartitionedConnectorXLoader(ConnectorXTableLoader):
        def load_rows(self, backend_kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
            limited = getattr(self.limit, "max_items", -1) >= 0
            extra = read_partitions(self.table, self.incremental, limited)
            span = key_range(self.engine, self.table, extra["partition_on"]) if extra else None
            if span:
                extra["partition_range"] = span
            yield from super().load_rows({**(backend_kwargs or {}), **(extra if span else {})})

    return PartitionedConnectorXLoader


def _float_as_double(sql_type: Any) -> Any:
    """SQLAlchemy 2.1's ``Float`` is no longer a ``Numeric``, so dlt leaves such columns
    untyped and infers a type from the first value: reflect them as dlt's ``double``."""
    if isinstance(sql_type, sa.Float) and not isinstance(sql_type, sa.Numeric):
        return sa.Numeric(asdecimal=True) if sql_type.asdecimal else sa.Numeric(asdecimal=False)
    return sql_type


def _items(backend: str) -> str:
    """What a backend yields (the destination loads Arrow and Python rows differently)."""
    return "object" if backend == "sqlalchemy" else "arrow"


def _keep_non_finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as ``Decimal``: dlt's JSON files turn float NaN/inf into null."""
    for key, value in row.items():
        if type(value) is float and not math.isfinite(value):
            row[key] = Decimal(value)
    return row


def _query_resource(source: Source, model: Model, engine: sa.Engine) -> DltResource:
    """A custom ``query`` streamed in Arrow batches; incremental filters wrap it."""
    assert source.connection is not None and model.query is not None
    chunk = source.connection.chunk_size
    query = model.query
    cursor_col = model.incremental.cursor if model.incremental else None
    initial = _incremental(model)

    def rows(incremental: Any = initial) -> Iterator[pa.Table]:
        sql, params = query, {}
        if cursor_col and incremental is not None and incremental.last_value is not None:
            quoted = engine.dialect.identifier_preparer.quote(cursor_col)
            sql = f"select * from ({query}) as kspyder_q where {quoted} >= :last"
            params = {"last": incremental.last_value}
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(sa.text(sql), params)
            names = list(result.keys())
            while batch := result.fetchmany(chunk):
                yield pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in batch])

    resource = dlt.resource(rows, name=model.name)
    resource.apply_hints(additional_table_hints={ITEMS_HINT: "arrow"})
    return resource


def build_sql_source(source: Source, models: list[str] | None = None) -> DltSource:
    """One dlt resource per selected model of a SQL source (tables via ``sql_table``)."""
    engine = _engine(source)
    selected = [source.models[m] for m in (models or list(source.models))]
    resources = [
        _query_resource(source, m, engine) if m.query else _table_resource(source, m, engine)
        for m in selected
    ]

    @dlt.source(name=source.name, max_table_nesting=0)
    def sql_source() -> list[DltResource]:
        return resources

    return sql_source()
