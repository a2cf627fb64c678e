"""Refuse REST records whose keys collide once dlt turns them into column names.

dlt's relational normalizer maps record keys to identifiers (``E-mail`` and ``e_mail`` both
become ``e_mail``; nested objects flatten to ``parent__key``) and, when two keys of one record
map to the same column, keeps the last value without a word. SQL (Arrow) sources fail on the
same collision with dlt's ``NameNormalizationCollision``; REST records get the same here.

Keys named like dlt's own columns (``_dlt_id``, ``_dlt_load_id``, ``_dlt_parent_id``,
``_dlt_list_idx``, ``_dlt_root_id``) would overwrite them (two records sharing a ``_dlt_id``
lose their child rows): they are renamed ``_source<name>`` (``_source_dlt_id``) first.

Each distinct key shape (per table) is normalized once; a record whose shape was seen costs a
tuple of its keys. Records with nested objects or lists are walked to reach their children.
"""

from __future__ import annotations

from typing import Any

from dlt.common.normalizers.json.helpers import normalize_identifier, normalize_table_identifier
from dlt.common.schema import Schema

from extract.errors import ExtractError
from extract.manifest.typing import Model
from extract.pii import column_paths

_CONTAINERS: frozenset[type] = frozenset((dict, list))
_EMPTY_KEY = "_empty"  # dlt's name for an empty or blank key
_LIST = "[]"

Path = tuple[str, ...]
RESERVED = frozenset({"_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_root_id"})
RENAMED_PREFIX = "_source"


def rename_reserved(record: dict[str, Any]) -> None:
    """Rename the keys of a record that dlt reserves for its own columns, in place."""
    for key in RESERVED.intersection(record):
        record[RENAMED_PREFIX + key] = record.pop(key)


def _shape(record: dict[str, Any]) -> tuple[Any, ...]:
    """The keys of a record, marking lists and with the shape of nested objects."""
    return tuple(
        (k, _shape(v)) if type(v) is dict else (k, _LIST) if type(v) is list else k
        for k, v in record.items()
    )


def _at(record: dict[str, Any], path: Path) -> Any:
    for key in path:
        record = record[key]
    return record


class KeyCheck:
    """Checks the records of one model; fails on the first collision, naming both keys."""

    def __init__(self, source: str, model: Model, schema: Schema, enabled: bool = True) -> None:
        self.source, self.model = source, model.name
        self.enabled = enabled  # documents are stored whole: their keys never become columns
        self._schema, self._naming = schema, schema.naming
        self._json = {self._column(n) for n, c in model.columns.items() if c.type == "json"}
        self._dropped = set(column_paths(model, "drop"))  # removed later, at extraction
        self._shapes: dict[tuple[Path, tuple[Any, ...]], list[Path]] = {}  # -> child lists

    def check(self, records: list[Any]) -> None:
        """Check a page of records (non-objects are left to dlt)."""
        if not self.enabled:
            return
        for record in records:
            if type(record) is dict:
                self._record(record, ())

    def _record(self, record: dict[str, Any], table: Path) -> None:
        if not RESERVED.isdisjoint(record):
            rename_reserved(record)
        flat = _CONTAINERS.isdisjoint(map(type, record.values()))
        key = (table, tuple(record) if flat else _shape(record))
        lists = self._shapes.get(key)
        if lists is None:
            lists = self._shapes[key] = self._validate(record, table)
        for path in lists:
            self._items(_at(record, path), (*table, *path))

    def _items(self, items: list[Any], table: Path) -> None:
        """The records of a child table (lists of lists are dlt's nested child tables)."""
        for item in items:
            if type(item) is dict:
                self._record(item, table)
            elif type(item) is list:
                self._items(item, table)

    def _validate(self, record: dict[str, Any], table: Path) -> list[Path]:
        """Fail if two keys become one column or child table; return the child list paths."""
        columns: dict[str, Path] = {}
        children: dict[Path, Path] = {}
        stack: list[tuple[dict[str, Any], Path, Path]] = [(record, (), ())]
        while stack:
            current, prefix, raw = stack.pop()
            for key, value in current.items():
                path = (*raw, key)
                if ".".join((*table, *path)) in self._dropped:
                    continue
                norm = self._column(key) if key and not key.isspace() else _EMPTY_KEY
                name = self._naming.shorten_fragments(*prefix, norm) if prefix else norm
                kind = type(value)
                if kind is dict and name not in self._json:
                    stack.append((value, (*prefix, norm), path))
                elif kind is list and name not in self._json:
                    child = (*prefix, normalize_table_identifier(self._schema, self._naming, key))
                    self._claim(children, child, path, table, f"child table '{'__'.join(child)}'")
                else:
                    self._claim(columns, name, path, table, f"column '{name}'")
        return list(children.values())

    def _claim(self, names: dict[Any, Path], name: Any, path: Path, table: Path, what: str) -> None:
        other = names.setdefault(name, path)
        if other is path:
            return
        where = f" in '{'.'.join(table)}' records" if table else ""
        keys = " and ".join(repr(".".join(p)) for p in (other, path))
        raise ExtractError(
            f"REST source '{self.source}' model '{self.model}': record keys {keys}{where} both "
            f"become {what} after dlt's name normalization, and dlt would keep only one of "
            "them; refused, as SQL sources refuse it (NameNormalizationCollision)"
        )

    def _column(self, key: str) -> str:
        return str(normalize_identifier(self._schema, self._naming, key))
