"""Where data lands: the DuckDB file (default), PostgreSQL by URL, or local files.

``KSPYDER_WAREHOUSE`` (or ``--warehouse``) holds a URL: ``duckdb:///path.duckdb`` or
``postgresql://user:${PASSWORD}@host:5432/db``. Nothing set means the embedded DuckDB file.
PostgreSQL uses dlt's destination with three corrections (``_postgres_factory``): '' and NULL
kept apart through CSV COPY, NaN/infinity literals quoted, NUL characters refused.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from extract import project
from extract.errors import ExtractError, KspyderError, UnknownValueError, unknown_value
from extract.secrets import quote_url_password, redact, register_secret, url_passwords

if TYPE_CHECKING:
    from extract.warehouse_db import Session

WAREHOUSE_ENV = "KSPYDER_WAREHOUSE"
FILE_FORMATS = {"json": "jsonl", "csv": "csv", "parquet": "parquet"}
ITEMS_HINT = "x-kspyder-items"
"""Table hint set by ``extract.sql``: ``arrow`` or ``object``, what the resource yields."""


@dataclass(frozen=True)
class Warehouse:
    """A resolved destination: kind (duckdb, postgres, files) and where."""

    kind: str
    location: str  # duckdb path, postgres URL (with password), or output folder
    file_format: str | None = None

    @property
    def display(self) -> str:
        """Where it is, without secrets."""
        return redact(self.location)

    @property
    def fingerprint(self) -> str:
        """Stable id of this destination (no secrets), stored beside dlt's local state."""
        text = f"{self.kind}|{redact(self.location)}|{self.file_format}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def destination(self) -> Any:
        """The dlt destination object."""
        import dlt  # imported here: dlt takes seconds to import, resolving a URL should not

        if self.kind == "duckdb":
            Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            return dlt.destinations.duckdb(self.location)
        if self.kind == "postgres":
            return _postgres_factory()(credentials=_with_password(self.location))
        return dlt.destinations.filesystem(bucket_url=Path(self.location).resolve().as_uri())

    def loader_file_format(self) -> str | None:
        """The fastest file format per destination: Parquet for DuckDB; for PostgreSQL the
        destination chooses per table (CSV COPY for Arrow tables, see ``_file_format_for``)."""
        if self.kind == "duckdb":
            return "parquet"
        if self.kind == "postgres":
            return None
        return FILE_FORMATS[self.file_format or "parquet"]

    def unreadable(self) -> str | None:
        """Why the DuckDB file cannot be opened (corrupted, truncated, not DuckDB), with the
        fix; None when it opens, is absent, or is only locked by another process."""
        if self.kind != "duckdb" or not Path(self.location).exists():
            return None
        import duckdb

        try:
            duckdb.connect(self.location, read_only=True).close()
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                return None
            reason = str(exc).splitlines()[0].replace(f'"{self.location}"', "").replace("  ", " ")
            return (
                f"the DuckDB warehouse {self.location} is unreadable ({reason}): run "
                "`kspyder rebuild` to set it aside and reload every source into a new one"
            )
        return None

    def set_aside(self) -> Path | None:
        """Rename an unreadable DuckDB file to ``<name>.corrupt-<time>`` (kept for a look)."""
        if self.unreadable() is None:
            return None
        path = Path(self.location)
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        path.rename(aside)
        Path(f"{path}.wal").unlink(missing_ok=True)
        return aside

    def connect(self, read_only: bool = False) -> AbstractContextManager[Session]:
        """A SQL session (``?`` placeholders, one transaction): see ``extract.warehouse_db``."""
        from extract.warehouse_db import connect

        return connect(self, read_only)

    def sqlalchemy_url(self) -> str:
        """A SQLAlchemy/psycopg URL for direct queries (grants, ledger, tests)."""
        if self.kind == "postgres":
            return _with_password(self.location)
        return f"duckdb:///{self.location}"


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
def _postgres_factory() -> Any:
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


def _with_password(url: str) -> str:
    """dlt's postgres credentials need a password; under trust auth any value works."""
    parts = urlsplit(url)
    if parts.password is None and parts.username:
        host = parts.netloc.split("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:trust@{host}")
    return urlunsplit(parts._replace(scheme="postgresql"))


def resolve(url: str | None = None, to: str | None = None, out: Path | None = None) -> Warehouse:
    """Resolve ``--to/--out``, ``--warehouse``, ``$KSPYDER_WAREHOUSE`` or the DuckDB default."""
    if to:
        if to not in FILE_FORMATS:
            raise UnknownValueError("--to", to, list(FILE_FORMATS))
        return Warehouse("files", str(out or project.outputs_dir() / "extract"), to)
    url = url or os.environ.get(WAREHOUSE_ENV)
    if not url:
        return Warehouse("duckdb", str(project.duckdb_path()))
    for password in url_passwords(url):
        register_secret(password)
    url = quote_url_password(url)  # a '/' or '@' in the password must not split the URL
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith("postgres"):
        return Warehouse("postgres", url)
    if scheme == "duckdb":
        path = url.split(":///", 1)[-1] if ":///" in url else url.split("://", 1)[-1]
        return Warehouse("duckdb", str(Path(path).expanduser().resolve()))
    raise KspyderError(
        unknown_value("warehouse URL scheme", scheme, ["duckdb", "postgresql"])
        + f" (got {redact(url)})"
    )
