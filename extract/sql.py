"""``kind: sql`` sources: dlt's ``sql_table`` per model, Arrow batches, or a custom query."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources import DltResource, DltSource
from dlt.sources.sql_database import sql_table

from extract.errors import ExtractError
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
    resource = sql_table(
        credentials=engine,
        table=model.table or model.name,
        schema=conn.schema_name,
        incremental=_incremental(model),
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
    return resource.with_name(model.name)


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
