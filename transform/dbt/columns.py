"""The columns of a staging model: manifest hints merged with what the warehouse holds.

Precedence per table: the live warehouse, else the committed snapshot
(``kspyder/columns/<source>.json`` in the dbt project, written at generation time, kept
out of ``models/``), else the manifest's declared columns alone. Dropped columns and dlt's
``_dlt_*`` columns never reach staging.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract import project
from extract.manifest.typing import Model
from transform.dbt.introspect import DLT_PREFIX

SNAPSHOT_DIR = ("kspyder", "columns")  # under the dbt project; not a dbt path
# information_schema data_type (DuckDB and PostgreSQL spellings) -> logical type
_TYPES: list[tuple[str, str]] = [
    (r"^timestamp(tz| with time zone)", "timestamptz"),
    (r"^timestamp", "timestamp"),
    (r"^(varchar|character varying|text|char|character|string|uuid)", "text"),
    (r"^(bigint|int8|integer|int4|int|smallint|int2|tinyint|hugeint|ubigint|uinteger)", "bigint"),
    (r"^(double|float|real)", "double"),
    (r"^(decimal|numeric)", "decimal"),
    (r"^bool", "bool"),
    (r"^date$", "date"),
    (r"^time", "time"),
    (r"^(json|jsonb)$", "json"),
    (r"^(blob|bytea|binary|varbinary)", "binary"),
]


@dataclass(frozen=True)
class ColumnSpec:
    """One raw column as staging sees it: name, logical type, PII class, description."""

    name: str
    type: str
    pii: str | None = None
    description: str | None = None
    money: bool = False
    references: str | None = None  # ``model`` or ``model.column`` of the same source


def logical_type(data_type: str) -> str:
    """Map a warehouse ``data_type`` to kspyder's logical type ('other' if unknown)."""
    text = data_type.strip().lower()
    for pattern, logical in _TYPES:
        if re.match(pattern, text):
            return logical
    return "other"


def _declared_type(model: Model, name: str) -> str:
    col = model.columns[name]
    if col.pii == "hash":
        return "text"
    return col.type or "text"


# dlt's relation between a table and its child tables (lists inside records): kept in
# staging where a child table exists, so analysts can join them
RELATION_COLUMNS = ("_dlt_id", "_dlt_parent_id", "_dlt_list_idx")


def merge_columns(
    model: Model, found: list[tuple[str, str]] | None, relation: bool = False
) -> list[ColumnSpec]:
    """Columns in warehouse order (when ``found``), else the manifest's declared ones.

    ``found`` holds ``(name, logical type)`` pairs from the warehouse or the snapshot.
    A declared column the warehouse does not hold is left out: selecting it would fail.
    ``relation`` keeps dlt's parent/child key columns (``RELATION_COLUMNS``).
    """
    declared = {n: c for n, c in model.columns.items() if c.pii != "drop" and not c.path}
    if found is None:
        cursor = [model.incremental.cursor] if model.incremental else []
        names = [*dict.fromkeys([*model.primary_key, *cursor, *declared])]
        pairs = [(n, _declared_type(model, n) if n in model.columns else "text") for n in names]
    else:
        kept = RELATION_COLUMNS if relation else ()
        pairs = [(n, t) for n, t in found if not n.startswith(DLT_PREFIX) or n in kept]
    specs: list[ColumnSpec] = []
    for name, type_ in pairs:
        if name in model.columns and model.columns[name].pii == "drop":
            continue  # loaded before the manifest dropped it: still never exposed
        col = declared.get(name)
        specs.append(
            ColumnSpec(
                name=name,
                type=type_,
                pii=col.pii if col else None,
                description=col.description if col else None,
                money=bool(col and col.money),
                references=col.references if col else None,
            )
        )
    first = [spec for key in model.primary_key for spec in specs if spec.name == key]
    return first + [spec for spec in specs if spec.name not in model.primary_key]


def missing_declared(model: Model, specs: list[ColumnSpec]) -> list[str]:
    """Declared (not dropped) columns absent from the resolved list."""
    present = {s.name for s in specs}
    return [
        n for n, c in model.columns.items() if c.pii != "drop" and not c.path and n not in present
    ]


def snapshot_path(source: str, project_dir: Path | None = None) -> Path:
    """``<dbt project>/kspyder/columns/<source>.json``."""
    return (project_dir or project.dbt_project_dir()).joinpath(*SNAPSHOT_DIR, f"{source}.json")


def read_snapshot(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``{model: [(column, logical type)]}`` from a source's snapshot file (or empty)."""
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    models: dict[str, dict[str, str]] = data.get("models", {})
    return {m: [(str(c), str(t)) for c, t in cols.items()] for m, cols in models.items()}


def snapshot_text(source: str, columns: dict[str, list[ColumnSpec]]) -> str:
    """The snapshot file's text: the resolved raw columns per model."""
    data = {
        "source": source,
        "note": "written by `kspyder dbt generate`; the staleness test regenerates from it",
        "models": {m: {c.name: c.type for c in cols} for m, cols in sorted(columns.items())},
    }
    return json.dumps(data, indent=2) + "\n"
