"""Where data lands: the DuckDB file (default), PostgreSQL by URL, or local files.

``KSPYDER_WAREHOUSE`` (or ``--warehouse``) holds a URL: ``duckdb:///path.duckdb`` or
``postgresql://user:${PASSWORD}@host:5432/db``. Nothing set means the embedded DuckDB file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from extract import project
from extract.errors import KspyderError
from extract.secrets import redact, register_secret, url_password

WAREHOUSE_ENV = "KSPYDER_WAREHOUSE"
FILE_FORMATS = {"json": "jsonl", "csv": "csv", "parquet": "parquet"}


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
            return dlt.destinations.postgres(credentials=_with_password(self.location))
        return dlt.destinations.filesystem(bucket_url=Path(self.location).resolve().as_uri())

    def loader_file_format(self, has_arrow: bool) -> str | None:
        """The fastest file format per destination: Parquet for DuckDB, CSV COPY for Postgres."""
        if self.kind == "duckdb":
            return "parquet"
        if self.kind == "postgres":
            return "csv" if has_arrow else None
        return FILE_FORMATS[self.file_format or "parquet"]

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
            raise KspyderError(f"--to '{to}' is not one of {', '.join(FILE_FORMATS)}")
        return Warehouse("files", str(out or project.outputs_dir() / "extract"), to)
    url = url or os.environ.get(WAREHOUSE_ENV)
    if not url:
        return Warehouse("duckdb", str(project.duckdb_path()))
    register_secret(url_password(url))
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith("postgres"):
        return Warehouse("postgres", url)
    if scheme == "duckdb":
        path = url.split(":///", 1)[-1] if ":///" in url else url.split("://", 1)[-1]
        return Warehouse("duckdb", str(Path(path).expanduser().resolve()))
    raise KspyderError(
        f"warehouse URL scheme '{scheme}' is not one of duckdb, postgresql (got {redact(url)})"
    )
