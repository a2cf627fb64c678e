"""What a failed model leaves behind and what its error says (used by ``extract.load``).

A failed model's pending package is aborted so it never blocks the others; DuckDB's refusal
of a wide DECIMAL is turned into the column and the manifest hint that fixes it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import dlt
from dlt.common.schema.utils import get_root_table
from dlt.pipeline.exceptions import PipelineStepFailed

from extract.errors import root_cause

DUCKDB_MAX_DIGITS = 38
DUCKDB_DECIMAL_WIDTH = "DECIMAL type width must be between 1 and 38"
log = logging.getLogger(__name__)


def abort_pending(pipeline: dlt.Pipeline) -> None:
    """Abort what the failed model left pending, rewinding local state (cursors, schema) to
    before its extract, so its error stays its own: left pending, dlt would retry the package
    before every later model and every later run, failing them all with this error."""
    remove_partial_packages(pipeline)
    if not (pipeline.list_extracted_load_packages() or pipeline.list_normalized_load_packages()):
        return
    try:
        pipeline.abort_packages()
    except PipelineStepFailed:  # aborting the package being loaded ends its load in an error
        pass
    log.warning("%s: aborted the failed package; its rows come again", pipeline.pipeline_name)


def remove_partial_packages(pipeline: dlt.Pipeline) -> None:
    """Delete packages a failed or killed extract or normalize was still writing.

    dlt writes an extract into ``normalize/<random id>/`` and a normalize into ``load/new/``
    before moving them on; after a full disk (ENOSPC) or a crash they stay, and the next run
    finds the disk still full. Only called under the source's lock, so nobody writes them.
    """
    working = Path(pipeline.working_dir)
    partial = [p for p in (working / "normalize").glob("*") if p.is_dir() and p.name != "extracted"]
    partial += [p for p in (working / "load" / "new").glob("*") if p.is_dir()]
    for folder in partial:
        shutil.rmtree(folder, ignore_errors=True)
    if partial:
        log.warning("%s: removed %d partial package(s)", pipeline.pipeline_name, len(partial))


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
