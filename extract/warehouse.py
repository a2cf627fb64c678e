"""Where data lands: the DuckDB file (default), PostgreSQL by URL, or local files.

``KSPYDER_WAREHOUSE`` (or ``--warehouse``) holds a URL: ``duckdb:///path.duckdb`` or
``postgresql://user:${PASSWORD}@host:5432/db``. Nothing set means the embedded DuckDB file.
PostgreSQL uses dlt's destination with the corrections in ``extract.dlt_postgres``: '' and
NULL kept apart through CSV COPY, NaN/infinity literals quoted, NUL characters refused.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from extract import project
from extract.errors import KspyderError, UnknownValueError, unknown_value
from extract.secrets import quote_url_password, redact, register_secret, url_passwords

if TYPE_CHECKING:
    from extract.warehouse_db import Session

WAREHOUSE_ENV = "KSPYDER_WAREHOUSE"


class FileFormat(StrEnum):
    """What ``extract --to`` writes instead of loading a warehouse."""

    json = "json"
    csv = "csv"
    parquet = "parquet"


# --to format -> dlt loader file format
FILE_FORMATS: dict[str, str] = {
    FileFormat.json: "jsonl",
    FileFormat.csv: "csv",
    FileFormat.parquet: "parquet",
}
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
            from extract.dlt_postgres import postgres_factory

            return postgres_factory()(credentials=_with_password(self.location))
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

        from extract.warehouse_db import open_duckdb

        try:
            open_duckdb(self.location, read_only=True).close()
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
