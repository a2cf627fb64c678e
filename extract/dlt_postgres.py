"""The dlt internals kspyder subclasses, in one place: dlt's PostgreSQL destination.

Tested with dlt 1.30 and 1.31 (``pyproject.toml`` bounds dlt to ``>=1.30,<2``). What it
changes: CSV load files written from Arrow are COPYed without ``FORCE_NULL`` (so '' stays
apart from NULL), Python rows and binary columns never go through CSV, NaN and infinities are
quoted literals and a NUL character in text is refused instead of stripped. A dlt upgrade
that renames ``PostgresClient``, ``PostgresCsvCopyJob`` or the capability fields breaks only
this module (tests/extract/test_pg_values.py covers each correction).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from extract.errors import ExtractError
from extract.warehouse import ITEMS_HINT


def _postgres_literal(escape: Callable[[Any], Any], value: Any) -> Any:
    """dlt's SQL literal of a value, for what dlt gets wrong on PostgreSQL.

    A NUL character is refused (dlt strips it; PostgreSQL cannot store it in text); NaN and
    infinities are quoted (dlt writes them bare, a syntax error).
    """
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            at = value.index("\x00")
            raise ExtractError(
                f"a text value holds a NUL character (\\x00), which PostgreSQL cannot store: "
                f"{value[max(0, at - 20) : at + 20]!r} (character {at + 1} of {len(value)})"
            )
    elif (kind is float and not math.isfinite(value)) or (
        kind is Decimal and not value.is_finite()
    ):
        return "'NaN'" if value != value else ("'Infinity'" if value > 0 else "'-Infinity'")
    return escape(value)


def _file_format_for(
    base: Callable[..., tuple[Any, Sequence[Any]]] | None,
    preferred: Any,
    supported: Sequence[Any],
    /,
    *,
    table_schema: Any,
) -> tuple[Any, Sequence[Any]]:
    """CSV COPY (fast) for Arrow tables; never CSV for Python rows, as dlt's CSV writer of
    Python rows writes NULL and '' alike. Other tables keep dlt's choice (INSERT)."""
    if base is not None:
        preferred, supported = base(preferred, supported, table_schema=table_schema)
    items = table_schema.get(ITEMS_HINT)
    if _has_binary(table_schema):  # CSV cannot carry bytes ("Invalid UTF8 payload")
        supported = [f for f in supported if f != "csv"]
        preferred = "insert_values" if preferred == "csv" else preferred
    elif items == "arrow" and "csv" in supported:
        preferred = "csv"
    elif items == "object" and "csv" in supported:
        supported = [f for f in supported if f != "csv"]
        preferred = "insert_values" if preferred == "csv" else preferred
    return preferred, supported


def _has_binary(table_schema: Any) -> bool:
    columns = table_schema.get("columns") or {}
    return any(c.get("data_type") == "binary" for c in columns.values())


@functools.cache
def postgres_factory() -> Any:
    """dlt's postgres destination, faithful to NULL vs '' and to NUL characters.

    - CSV load files written from Arrow (tables hinted ``x-kspyder-items: arrow``) are
      COPYed without ``FORCE_NULL``: Arrow writes NULL unquoted and '' as ``""``, and
      ``FORCE_NULL`` would read both as NULL.
    - Python rows never go through CSV (see ``_file_format_for``).
    - A text value with a NUL character is refused instead of stripped.
    The destination type stays ``dlt.destinations.postgres`` in dlt's pipeline state.
    """
    import dlt
    from dlt.common.destination.configuration import CsvFormatConfiguration
    from dlt.common.destination.exceptions import DestinationInvalidFileFormat
    from dlt.common.storages import ParsedLoadJobFileName
    from dlt.common.storages.file_storage import FileStorage
    from dlt.destinations.impl.postgres.postgres import PostgresClient, PostgresCsvCopyJob

    class ArrowCsvCopyJob(PostgresCsvCopyJob):
        """dlt's CSV COPY without ``FORCE_NULL``: a quoted empty value stays ''."""

        def run(self) -> None:
            client, table = self._job_client, self.load_table_name
            sql_client = client.sql_client
            fmt = client.config.csv_format or CsvFormatConfiguration()
            if not fmt.include_header:  # header-less files: dlt's own job
                return super().run()
            quoted = sql_client.escape_column_name
            known = [quoted(c, quote=True) for c in client.schema.get_table_columns(table)]
            with FileStorage.open_zipsafe_ro(self._file_path, "rb") as f:
                header = f.readline().decode(fmt.encoding).strip().split(fmt.delimiter)
                columns = [quoted(h.strip('"'), quote=True) for h in header]
                if unknown := set(columns).difference(known):
                    raise DestinationInvalidFileFormat(
                        "postgres", "csv", self._file_path, f"unknown columns {unknown}"
                    )
                copy_sql = (
                    f"COPY {sql_client.make_qualified_table_name(table)} ({','.join(columns)}) "
                    f"FROM STDIN WITH (FORMAT CSV, DELIMITER '{fmt.delimiter}', NULL '', "
                    f"ENCODING '{fmt.encoding}')"
                )
                with sql_client.begin_transaction():
                    with sql_client.native_connection.cursor() as cursor:
                        cursor.copy_expert(copy_sql, f, size=8192)

    class KspyderPostgresClient(PostgresClient):
        def create_load_job(
            self, table: Any, file_path: str, load_id: str, restore: bool = False
        ) -> Any:
            is_csv = ParsedLoadJobFileName.parse(file_path).file_format == "csv"
            if is_csv and table.get(ITEMS_HINT) == "arrow":
                return ArrowCsvCopyJob(file_path)
            return super().create_load_job(table, file_path, load_id, restore)

    class postgres(dlt.destinations.postgres):
        @property
        def destination_type(self) -> str:
            return "dlt.destinations.postgres"

        @property
        def client_class(self) -> type[Any]:
            return KspyderPostgresClient

        def _raw_capabilities(self) -> Any:
            caps = super()._raw_capabilities()
            caps.escape_literal = functools.partial(_postgres_literal, caps.escape_literal)
            caps.loader_file_format_selector = functools.partial(  # type: ignore[assignment]
                _file_format_for, caps.loader_file_format_selector
            )
            return caps

    return postgres
