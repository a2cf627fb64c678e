"""Output formats of aggregation results: a registry of writers (json, csv, warehouse).

Files go under ``<outputs>/aggregations/`` (``extract.project.outputs_dir()``); warehouse
tables into schema ``aggregates`` of the resolved warehouse (DuckDB file or PostgreSQL),
replaced whole on each run. CSV and warehouse rows are flattened: nested fields become
dotted column names, lists become JSON text. CSV text cells that a spreadsheet would run as
formulas get a leading ``'``; JSON and warehouse values stay exact.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extract import project
from extract.csvwriter import neutralise
from extract.errors import KspyderError

if TYPE_CHECKING:
    from transform.aggregate.model import Output, Pipeline

AGGREGATES_SCHEMA = "aggregates"
Row = dict[str, Any]
Writer = Callable[["Pipeline", "Output", list[Row]], str]
_writers: dict[str, Writer] = {}


def register_output_format(name: str, writer: Writer) -> None:
    """Register a writer: ``writer(pipeline, output, rows) -> where it wrote``."""
    _writers[name] = writer


def available_formats() -> list[str]:
    """Registered output format names, sorted."""
    return sorted(_writers)


def write_outputs(pipeline: Pipeline, rows: list[Row]) -> list[str]:
    """Write the rows to every output of the pipeline; returns where each went."""
    written = []
    for output in pipeline.outputs:
        if output.format not in _writers:
            raise KspyderError(
                f"Invalid output format: {output.format}. "
                f"Available options: {', '.join(available_formats())}"
            )
        written.append(_writers[output.format](pipeline, output, rows))
    return written


def aggregations_dir() -> Path:
    """Default folder of aggregation files."""
    return project.outputs_dir() / "aggregations"


def output_path(pipeline: Pipeline, output: Output) -> Path:
    """File of an output: its relative ``path`` or ``<name>.<format>``."""
    return aggregations_dir() / (output.path or f"{pipeline.name}.{output.format}")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def flatten(doc: Mapping[str, Any], prefix: str = "") -> Row:
    """Nested mappings as dotted keys; lists as JSON text; other values unchanged."""
    flat: Row = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value, default=_json_default)
        else:
            flat[name] = value
    return flat


def flat_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[Row]]:
    """Flattened rows and the union of their columns, in first-seen order."""
    flat = [flatten(r) for r in rows]
    columns = list(dict.fromkeys(c for r in flat for c in r))
    return columns, flat


def write_json(pipeline: Pipeline, output: Output, rows: list[Row]) -> str:
    """A JSON array of the result documents, nested fields kept."""
    path = output_path(pipeline, output)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(rows, indent=2, ensure_ascii=False, default=_json_default)
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)  # a formula would run in a spreadsheet (CSV injection)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def write_csv(pipeline: Pipeline, output: Output, rows: list[Row]) -> str:
    """A CSV file with a header; nested fields flattened to dotted column names."""
    path = output_path(pipeline, output)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns, flat = flat_table(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in flat:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return str(path)


def write_warehouse(pipeline: Pipeline, output: Output, rows: list[Row]) -> str:
    """Replace table ``aggregates.<table>`` in the warehouse (``extract.warehouse.resolve``)."""
    from extract.warehouse import resolve
    from transform.aggregate.tables import replace_table

    warehouse = resolve()
    if warehouse.kind == "files":
        raise KspyderError("a warehouse output needs a DuckDB or PostgreSQL warehouse")
    assert output.table is not None  # checked by the model
    columns, flat = flat_table(rows)
    replace_table(warehouse, AGGREGATES_SCHEMA, output.table, columns, flat)
    return f"{warehouse.display} {AGGREGATES_SCHEMA}.{output.table}"


register_output_format("json", write_json)
register_output_format("csv", write_csv)
register_output_format("warehouse", write_warehouse)
