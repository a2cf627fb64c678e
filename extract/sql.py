"""``kind: sql`` sources: dlt's ``sql_table`` per model, Arrow batches, or a custom query."""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources import DltResource, DltSource
from dlt.sources.sql_database import sql_table

from extract import integrity
from extract.errors import ExtractError
from extract.lookback import lag_of, parse_utc
from extract.manifest.typing import Model, Source
from extract.pii import column_paths
from extract.sql_types import (
    ColumnNamingLoader,
    adapt_table,
    cast_text_columns,
    connectorx_inexact,
    dlt_type,
)
from extract.warehouse import ITEMS_HINT

log = logging.getLogger(__name__)
Backend = Literal["sqlalchemy", "pyarrow", "pandas", "connectorx"]


def _as_cursor_value(value: Any) -> Any:
    """ISO timestamps written as strings become datetimes, as SQL drivers return them."""
    if isinstance(value, str):
        return parse_utc(value) or value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _naive(value: Any) -> Any:
    """A UTC datetime without its time zone (for cursor columns that have none)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _cursor_is_naive(source: Source, model: Model, engine: sa.Engine) -> bool:
    """True when a table's cursor column is a timestamp without time zone.

    dlt's ``lag`` compares the stored cursor with the rows' values without adapting time
    zones, so with a lookback the initial value must match the column."""
    if model.query or model.incremental is None or not model.incremental.lookback:
        return False
    assert source.connection is not None
    columns = sa.inspect(engine).get_columns(
        model.table or model.name, schema=source.connection.schema_name
    )
    kind = next((c["type"] for c in columns if c["name"] == model.incremental.cursor), None)
    return isinstance(kind, sa.DateTime) and not kind.timezone


def _incremental(model: Model, naive: bool = False) -> Any:
    """dlt's incremental of a model: NULL cursors per ``on_null_cursor``, ``lookback`` as
    dlt's ``lag``. A merge model re-reads the rows at the stored maximum instead of dropping
    them as already seen: one updated without moving its cursor is replaced by key."""
    inc = model.incremental
    if inc is None:
        return None
    dedup: dict[str, Any] = {"primary_key": ()} if model.write_disposition == "merge" else {}
    adapt = _naive if naive else (lambda v: v)
    return dlt.sources.incremental(
        inc.cursor,
        initial_value=adapt(_as_cursor_value(inc.initial_value)),
        end_value=adapt(_as_cursor_value(inc.end_value)),
        row_order=inc.row_order,
        on_cursor_value_missing="exclude" if inc.on_null_cursor == "exclude" else "include",
        lag=lag_of(inc),
        **dedup,
    )


def _null_cursor_counter(source: str, model: Model) -> Any:
    """A map step counting rows whose cursor is NULL (``fail`` raises on the first batch)."""
    assert model.incremental is not None
    cursor, policy = model.incremental.cursor, model.incremental.on_null_cursor

    def count(item: Any) -> Any:
        if isinstance(item, pa.Table):
            nulls = item.column(cursor).null_count if cursor in item.column_names else 0
        else:
            nulls = int(isinstance(item, dict) and item.get(cursor) is None)
        if nulls and policy == "fail":
            raise ExtractError(
                f"model '{model.name}': {nulls} row(s) have a NULL cursor '{cursor}' "
                "(incremental.on_null_cursor: fail; allowed: include, exclude, fail)"
            )
        integrity.count(source, model.name, "null_cursor", nulls)
        return item

    return count


def _with_hints(source: Source, model: Model, resource: DltResource) -> DltResource:
    """NULL-cursor counting and the column merge keeps the highest of per key."""
    inc = model.incremental
    if inc is not None and inc.on_null_cursor != "exclude":
        resource.add_map(_null_cursor_counter(source.name, model))
    sort = model.dedup_sort or (inc.cursor if inc else None)
    if model.write_disposition == "merge" and sort:
        resource.apply_hints(columns={sort: {"name": sort, "dedup_sort": "desc"}})
    return resource


def _engine(source: Source) -> sa.Engine:
    assert source.connection is not None
    return sa.create_engine(source.connection.url, pool_pre_ping=True)


def _table_resource(source: Source, model: Model, engine: sa.Engine) -> DltResource:
    assert source.connection is not None
    conn = source.connection
    metadata = sa.MetaData(schema=conn.schema_name)  # reflected once, here or by dlt
    backend = _backend(source, model, engine, metadata)
    kwargs: dict[str, Any] = {}
    if backend == "pyarrow":  # conversion errors name the column
        kwargs["table_loader_class"] = ColumnNamingLoader
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
        incremental=_incremental(model, _cursor_is_naive(source, model, engine)),
        chunk_size=conn.chunk_size,
        backend=backend,
        reflection_level="full",
        metadata=metadata,
        type_adapter_callback=dlt_type,
        table_adapter_callback=functools.partial(adapt_table, model, engine.dialect.name),
        query_adapter_callback=functools.partial(cast_text_columns, model),
        excluded_columns=column_paths(model, "drop") or None,
        **kwargs,
    )
    if backend == "sqlalchemy":  # Python rows, not Arrow
        resource.add_map(_keep_non_finite)
    resource.apply_hints(additional_table_hints={ITEMS_HINT: _items(backend)})
    return _with_hints(source, model, resource.with_name(model.name))


def _backend(source: Source, model: Model, engine: sa.Engine, metadata: sa.MetaData) -> Backend:
    """``auto``: connectorx (Arrow, no Python rows) for PostgreSQL unless it would change a
    column's values (see ``connectorx_inexact``), then pyarrow; pyarrow elsewhere."""
    assert source.connection is not None
    conn = source.connection
    postgres = conn.url.startswith(("postgres", "postgresql"))
    if conn.backend not in ("auto", "connectorx") or (conn.backend == "auto" and not postgres):
        return "pyarrow" if conn.backend == "auto" else conn.backend
    table = sa.Table(model.table or model.name, metadata, autoload_with=engine)
    inexact = connectorx_inexact(model, table)
    if not inexact:
        return "connectorx"
    if conn.backend == "connectorx":
        raise ExtractError(
            f"table {table.name}: connectorx would change the values of {', '.join(inexact)}; "
            "use `backend: auto` or `pyarrow` (or `columns.<name>.type: text`)"
        )
    log.info("%s: read with pyarrow, connectorx would change %s", table.name, inexact)
    return "pyarrow"


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
    assert source.connection is not None
    assert model.query is not None
    chunk = source.connection.chunk_size
    initial = _incremental(model)

    def rows(incremental: Any = initial) -> Iterator[pa.Table]:
        sql, params = _filtered(model, engine, incremental)
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(sa.text(sql), params)
            names = list(result.keys())
            while batch := result.fetchmany(chunk):
                yield pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in batch])

    resource = dlt.resource(rows, name=model.name)
    resource.apply_hints(additional_table_hints={ITEMS_HINT: "arrow"})
    return _with_hints(source, model, resource)


def _filtered(model: Model, engine: sa.Engine, incremental: Any) -> tuple[str, dict[str, Any]]:
    """A custom query wrapped in the incremental filter (NULL cursors per the policy)."""
    assert model.query is not None
    spec = model.incremental
    if spec is None or incremental is None:
        return model.query, {}
    quoted = engine.dialect.identifier_preparer.quote(spec.cursor)
    start = incremental.start_value
    conditions, params = [], {}
    if start is not None:
        conditions.append(f"{quoted} >= :last")
        params["last"] = start
        if spec.on_null_cursor != "exclude":
            conditions[0] = f"({conditions[0]} or {quoted} is null)"
    if spec.on_null_cursor == "exclude":
        conditions.append(f"{quoted} is not null")
    if not conditions:
        return model.query, {}
    where = " and ".join(conditions)
    return f"select * from ({model.query}) as kspyder_q where {where}", params


def source_rows(source: Source, model: Model, null_cursor: bool = False) -> int:
    """Rows of a model's table or query in the source (only NULL-cursor ones if asked)."""
    engine = _engine(source)
    try:
        prep = engine.dialect.identifier_preparer
        if model.query:
            relation = f"({model.query}) as kspyder_q"
        else:
            assert source.connection is not None
            name = prep.quote(model.table or model.name)
            schema = source.connection.schema_name
            relation = f"{prep.quote_schema(schema)}.{name}" if schema else name
        where = ""
        if null_cursor and model.incremental:
            where = f" where {prep.quote(model.incremental.cursor)} is null"
        with engine.connect() as connection:
            return int(
                connection.execute(sa.text(f"select count(*) from {relation}{where}")).scalar_one()
            )
    finally:
        engine.dispose()


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
