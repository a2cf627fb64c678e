"""dlt's Arrow -> CSV writer, with time-zone-aware timestamps formatted fast.

pyarrow's CSV writer formats a time-zone-aware timestamp column about 30x slower than a
naive one (1M rows of one ``timestamptz`` column: 1.48 s of a 1.92 s write, measured on the
benchmark table). Arrow keeps such values as UTC instants, so they are written here as text
``YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`` (the UTC wall time with its offset: the same instant,
read back by PostgreSQL's COPY and by any ISO-8601 reader; NULL stays NULL). Everything else
is dlt's ``ArrowToCsvWriter``; ``install()`` puts this subclass in dlt's writer registry
(the CSV load files of PostgreSQL and ``--to csv``).

dlt's CSV writer of Python rows (REST records) counts each row's columns as rows
(``sum(len(row))``): ``RowCountingCsvWriter`` counts rows, so ``--to csv`` reports them.

CSV written for people (``--to csv``, aggregation outputs) is opened in spreadsheets: a text
cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR is a formula there, so ``neutralise``
prefixes it with ``'`` (OWASP "CSV injection"); numbers such as ``-5`` stay as they are.
CSV *load files* that PostgreSQL COPYs are never altered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from dlt.common.data_writers import writers

UTC_SUFFIX = "+00:00"


def _fast_timestamps(item: Any) -> Any:
    """The table or batch with each tz-aware timestamp column as UTC text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = item.schema
    aware = [
        i
        for i, field in enumerate(schema)
        if pa.types.is_timestamp(field.type) and field.type.tz is not None
    ]
    if not aware:
        return item
    columns = list(item.columns)
    fields = list(schema)
    for i in aware:
        naive = columns[i].cast(pa.timestamp(schema.field(i).type.unit))  # UTC wall time
        columns[i] = pc.binary_join_element_wise(naive.cast(pa.string()), pa.scalar(UTC_SUFFIX), "")
        fields[i] = pa.field(fields[i].name, pa.string(), fields[i].nullable)
    build = pa.Table if isinstance(item, pa.Table) else pa.RecordBatch
    return build.from_arrays(columns, schema=pa.schema(fields, metadata=schema.metadata))


class FastTimestampArrowToCsvWriter(writers.ArrowToCsvWriter):
    """``ArrowToCsvWriter`` writing tz-aware timestamps as UTC text (see the module doc)."""

    def write_data(self, items: Sequence[Any]) -> None:
        super().write_data([_fast_timestamps(item) for item in items])


class RowCountingCsvWriter(writers.CsvWriter):
    """dlt's ``CsvWriter`` (Python rows -> CSV) counting rows, not rows x columns."""

    def write_data(self, items: Sequence[Any]) -> None:
        columns = sum(len(row) for row in items)  # what dlt adds to items_count
        super().write_data(items)
        self.items_count += len(items) - columns


def _replace(base: type[Any], writer: type[Any], item_format: Literal["arrow", "object"]) -> None:
    spec = base.writer_spec()
    if writers.WRITER_SPECS.get(spec) is writer:
        return
    writers.WRITER_SPECS[spec] = writer
    writers.ALL_WRITERS[:] = [writer if w is base else w for w in writers.ALL_WRITERS]
    native = writers.NATIVE_FORMAT_WRITERS
    native[item_format] = tuple(writer if w is base else w for w in native[item_format])


def install() -> None:
    """Make dlt use these writers for CSV files (idempotent)."""
    _replace(writers.ArrowToCsvWriter, FastTimestampArrowToCsvWriter, "arrow")
    _replace(writers.CsvWriter, RowCountingCsvWriter, "object")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = r"^[=+\-@\t\r]"
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
NUMBER_PATTERN = NUMBER.pattern


def neutralise(text: str) -> str:
    """A text cell made inert for spreadsheets: ``'`` before a formula-leading character."""
    if text.startswith(FORMULA_START) and not NUMBER.match(text):
        return "'" + text
    return text


def _neutralise_arrow(item: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = list(item.columns)
    changed = False
    for i, field in enumerate(item.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        col = columns[i]
        risky = pc.and_(
            pc.match_substring_regex(col, FORMULA_PATTERN),
            pc.invert(pc.match_substring_regex(col, NUMBER_PATTERN)),
        )
        if not pc.any(risky).as_py():
            continue
        prefixed = pc.binary_join_element_wise(pa.scalar("'", field.type), col, "")
        columns[i] = pc.if_else(risky, prefixed, col)
        changed = True
    if not changed:
        return item
    build = pa.Table if isinstance(item, pa.Table) else pa.RecordBatch
    return build.from_arrays(columns, schema=item.schema)


def neutralise_item(item: Any) -> Any:
    """``neutralise`` every text value of an item (record, list of records, Arrow table)."""
    if isinstance(item, str):
        return neutralise(item)
    if isinstance(item, dict):
        return {key: neutralise_item(value) for key, value in item.items()}
    if isinstance(item, list):
        return [neutralise_item(value) for value in item]
    if hasattr(item, "schema") and hasattr(item, "columns") and hasattr(item, "num_rows"):
        return _neutralise_arrow(item)
    return item
