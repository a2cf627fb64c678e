"""What a failed model's error says (used by ``extract.load``).

The innermost message of dlt's exception chain, with what to do about it; DuckDB's refusal
of a wide DECIMAL is turned into the column and the manifest hint that fixes it.
"""

from __future__ import annotations

import errno

import dlt
from dlt.common.schema.utils import get_root_table

from extract import project
from extract.errors import exception_chain, root_cause
from extract.manifest.typing import Source
from extract.secrets import redact, url_endpoint

DUCKDB_MAX_DIGITS = 38
DUCKDB_DECIMAL_WIDTH = "DECIMAL type width must be between 1 and 38"


def decimal_too_wide(
    exc: BaseException, source: str, pipeline: dlt.Pipeline, unit: list[str]
) -> str:
    """DuckDB refusing a DECIMAL wider than 38 digits: which column, and the hint that works."""
    if DUCKDB_DECIMAL_WIDTH not in str(root_cause(exc)):
        return ""
    return "; ".join(
        f"table {source}.{table} column {column}: {kind} has more digits than DuckDB's "
        f"DECIMAL holds ({DUCKDB_MAX_DIGITS}); declare `columns.{column}.type: text` on model "
        f"{table} to load it exactly as text"
        for table, column, kind in wide_decimals(pipeline, unit)
    )


def wide_decimals(pipeline: dlt.Pipeline, unit: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, ``decimal(p,s)``) of the unit's columns wider than DuckDB's DECIMAL."""
    schema = pipeline.default_schema
    return [
        (str(table["name"]), name, f"decimal({col['precision']},{col.get('scale', 0)})")
        for table in schema.data_tables()
        if get_root_table(schema.tables, str(table["name"])).get("resource") in unit
        for name, col in table["columns"].items()
        if col.get("data_type") == "decimal" and (col.get("precision") or 0) > DUCKDB_MAX_DIGITS
    ]


def failure_message(
    exc: BaseException, source: Source, pipeline: dlt.Pipeline, unit: list[str]
) -> str:
    """What a failed unit's results say: the column and manifest hint for a too-wide DECIMAL,
    else the innermost message and what to do about it (full disk, schema change, no host)."""
    return redact(
        decimal_too_wide(exc, source.name, pipeline, unit) or root_message(exc) + _hint(exc, source)
    )


def _hint(exc: BaseException, source: Source) -> str:
    """What to do about failures the user must act on."""
    if any(getattr(e, "errno", None) == errno.ENOSPC for e in exception_chain(exc)):
        return (
            f" -- the disk of {project.pipelines_dir()} is full: the partial package was "
            "removed; free some space and run again"
        )
    if any(type(e).__name__.startswith("SchemaUpdate") for e in exception_chain(exc)):
        return (
            f" -- the warehouse table cannot be changed in place: run "
            f"`kspyder rebuild {source.name}` to drop and reload the source"
        )
    endpoint = url_endpoint(source.connection.url) if source.connection else None
    if endpoint and any(_is_connection_error(e) for e in exception_chain(exc)):
        return f" -- cannot connect to source '{source.name}' at {endpoint}"
    return ""


def _is_connection_error(exc: BaseException) -> bool:
    """A refused, reset or unresolvable connection (drivers do not always name the host)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, ConnectionError) or any(
        w in text for w in ("connection refused", "can't connect", "could not connect")
    )


def root_message(exc: BaseException) -> str:
    """The innermost meaningful message of a dlt pipeline exception chain."""
    seen = root_cause(exc)
    text = f"{type(seen).__name__}: {seen}"
    return text if seen is exc else f"{type(exc).__name__} in {_step(exc)}: {text}"


def _step(exc: BaseException) -> str:
    return str(getattr(exc, "step", "run"))
