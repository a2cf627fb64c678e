"""Extract-time PII handling: ``drop`` and ``hash`` run here, before anything is written.

Where each strategy runs, and why:
- ``drop`` at extraction: the value must never be stored, not even in dlt's local files.
- ``hash`` at extraction: a keyed HMAC-SHA256 needs the key; in dbt the key would be
  rendered into compiled SQL under ``target/``. Here it stays in process memory.
- ``mask``, ``redact``, ``keep`` in dbt staging models (macros in ``dbt_project/macros``):
  the raw value lands in the raw schema, which analysts cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from extract.errors import KspyderError
from extract.manifest.typing import Model, Source
from extract.secrets import register_secret

HMAC_KEY_ENV = "KSPYDER_HMAC_KEY"
HMAC_KEY_FILE_ENV = "KSPYDER_HMAC_KEY_FILE"
EXTRACT_STRATEGIES = ("drop", "hash")


def default_key_file() -> Path:
    """Where a locally generated key lives: the user's config folder, never ``.kspyder/``
    (which is expendable): ``$XDG_CONFIG_HOME/kspyder/hmac.key``, else ``~/.config/...``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kspyder" / "hmac.key"


def hmac_key() -> bytes:
    """The pseudonymisation key: ``$KSPYDER_HMAC_KEY``, the file in ``$..._FILE``, else the
    user's key file (``default_key_file()``, created by ``kspyder demo``)."""
    value = os.environ.get(HMAC_KEY_ENV)
    path = os.environ.get(HMAC_KEY_FILE_ENV)
    local = default_key_file()
    if not value and not path and local.exists():
        path = str(local)
    if not value and path:
        with open(path, encoding="utf-8") as fh:
            value = fh.read().strip()
    if not value:
        raise KspyderError(
            f"a column declares pii: hash but no key is set: export {HMAC_KEY_ENV} "
            f"(or {HMAC_KEY_FILE_ENV} pointing at a file holding it, or create {local})"
        )
    register_secret(value)
    return value.encode("utf-8")


def pseudonym(value: Any, key: bytes) -> str | None:
    """Deterministic keyed pseudonym of a value (normalised: stripped, lowercased text)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _split(path: str) -> list[str]:
    return path.split(".")


def _drop_path(record: Any, parts: list[str]) -> None:
    if isinstance(record, list):
        for item in record:
            _drop_path(item, parts)
    elif isinstance(record, dict):
        if len(parts) == 1:
            record.pop(parts[0], None)
        elif parts[0] in record:
            _drop_path(record[parts[0]], parts[1:])


def _hash_path(record: Any, parts: list[str], key: bytes) -> None:
    if isinstance(record, list):
        for item in record:
            _hash_path(item, parts, key)
    elif isinstance(record, dict) and parts[0] in record:
        if len(parts) == 1:
            record[parts[0]] = pseudonym(record[parts[0]], key)
        else:
            _hash_path(record[parts[0]], parts[1:], key)


def column_paths(model: Model, strategy: str) -> list[str]:
    """Record paths (dotted for nested fields) of the model's columns with a strategy."""
    return [col.path or name for name, col in model.columns.items() if col.pii == strategy]


def _transform_arrow(
    table: pa.Table, drops: list[str], hashes: list[str], key: bytes | None
) -> Any:
    present = [c for c in drops if c in table.column_names]
    if present:
        table = table.drop_columns(present)
    for name in hashes:
        if name in table.column_names and key is not None:
            col = table.column(name)
            values = [pseudonym(v, key) for v in col.to_pylist()]
            idx = table.column_names.index(name)
            table = table.set_column(idx, name, pa.array(values, type=pa.string()))
    return table


def record_transformer(model: Model) -> Callable[[Any], Any] | None:
    """A function applied to each item (dict, list page or Arrow table), or None if no PII."""
    drops = column_paths(model, "drop")
    hashes = column_paths(model, "hash")
    if not drops and not hashes:
        return None
    key = hmac_key() if hashes else None

    def transform(item: Any) -> Any:
        if isinstance(item, pa.Table | pa.RecordBatch):
            table = pa.Table.from_batches([item]) if isinstance(item, pa.RecordBatch) else item
            return _transform_arrow(table, drops, hashes, key)
        if hasattr(item, "to_dict") and hasattr(item, "columns"):  # pandas frame
            frame = item.drop(columns=[c for c in drops if c in item.columns])
            for name in hashes:
                if name in frame.columns and key is not None:
                    frame[name] = [pseudonym(v, key) for v in frame[name]]
            return frame
        for path in drops:
            _drop_path(item, _split(path))
        for path in hashes:
            if key is not None:
                _hash_path(item, _split(path), key)
        return item

    return transform


def requires_key(sources: dict[str, Source]) -> bool:
    """True when any selected model declares ``pii: hash``."""
    return any(
        col.pii == "hash"
        for s in sources.values()
        for m in s.models.values()
        for col in m.columns.values()
    )


__all__ = [
    "EXTRACT_STRATEGIES",
    "default_key_file",
    "hmac_key",
    "pseudonym",
    "record_transformer",
    "requires_key",
]
