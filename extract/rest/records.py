"""Record-shaping transforms declared on an endpoint or model.

``records_from``: APIs such as Azure Cost Management answer a table, a list of columns and a
list of rows (arrays of values in column order) instead of records; each row becomes a record
keyed by the column names, so nothing downstream depends on column positions.

``normalize_ids``: ARM ids are case-insensitive and Azure spells references in any case;
lower-casing every value under the declared keys at load makes joins by id exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dlt.common import jsonpath

from extract.errors import ResponseShapeError
from extract.manifest.typing import IdNormalization, RecordsFrom


def _at(payload: Any, path: str) -> Any:
    values = jsonpath.find_values(path, payload) if isinstance(payload, dict) else []
    return values[0] if len(values) == 1 else None


def rows_to_records(payload: Any, spec: RecordsFrom) -> list[dict[str, Any]]:
    """The records of a columns + rows answer; raises ResponseShapeError saying what is wrong."""
    columns, rows = _at(payload, spec.columns), _at(payload, spec.rows)
    if not isinstance(columns, list):
        raise ResponseShapeError(
            f"records_from.columns '{spec.columns}' is not a list in the response"
        )
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise ResponseShapeError(f"records_from.rows '{spec.rows}' is not a list in the response")
    names = [_column_name(c, spec.column_name, i) for i, c in enumerate(columns)]
    records = []
    for n, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise ResponseShapeError(
                f"records_from: row {n} has {got} values for {len(names)} columns "
                f"({', '.join(names)})"
            )
        records.append(dict(zip(names, row, strict=True)))
    return records


def _column_name(column: Any, key: str, index: int) -> str:
    if isinstance(column, str):
        return column
    if isinstance(column, dict) and isinstance(column.get(key), str):
        return str(column[key])
    raise ResponseShapeError(f"records_from: column {index} has no string '{key}' ({column!r:.80})")


def normalize_ids(doc: Any, spec: IdNormalization) -> Any:
    """``doc`` with every string under the declared keys lower-cased (walked in place)."""
    keys = set(spec.keys)
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in keys and isinstance(value, str):
                doc[key] = value.lower()
            else:
                normalize_ids(value, spec)
    elif isinstance(doc, list):
        for item in doc:
            normalize_ids(item, spec)
    return doc


def normalized(
    docs: Iterable[dict[str, Any]], spec: IdNormalization | None
) -> Iterator[dict[str, Any]]:
    """The documents with their ids normalised (unchanged when ``spec`` is None)."""
    for doc in docs:
        yield doc if spec is None else normalize_ids(doc, spec)
