"""The HMAC key is part of the warehouse's identity: its fingerprint is stored with it.

Pseudonyms (``pii: hash``) join ERP and CRM customers only while every row was hashed with
the same key. The warehouse keeps a fingerprint of the key (an HMAC of a fixed label: it
reveals nothing about the key) in ``kspyder_meta._kspyder_hmac_key``; a load with hashed
columns and a different key is refused before anything is written, naming the two ways
out: restore the key, or ``kspyder pii rotate-key`` (re-hash everything with the new key).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from extract.errors import KspyderError
from extract.manifest.typing import Source
from extract.pii import HMAC_KEY_ENV, HMAC_KEY_FILE_ENV, column_paths, hmac_key
from extract.warehouse import Warehouse

FINGERPRINT_LABEL = b"kspyder hmac key fingerprint v1"
KEY_SCHEMA = "kspyder_meta"
KEY_TABLE = "_kspyder_hmac_key"
_rotating = threading.local()
_lock = threading.Lock()  # sources load concurrently: one DDL on kspyder_meta at a time


class KeyMismatch(KspyderError):
    """The HMAC key is not the one the warehouse's pseudonyms were made with."""


def fingerprint(key: bytes) -> str:
    """A stable, non-reversible identifier of the key (16 hex characters)."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def hashed_models(source: Source, models: list[str] | None = None) -> list[str]:
    """The (selected) models of a source that declare a ``pii: hash`` column."""
    names = models if models is not None else list(source.models)
    return [m for m in names if column_paths(source.models[m], "hash")]


def _execute(
    warehouse: Warehouse, statements: list[tuple[str, tuple[object, ...]]]
) -> list[tuple[object, ...]]:
    """Run statements (``?`` placeholders) on the warehouse; rows of the last one."""
    with warehouse.connect() as db:
        rows: list[tuple[object, ...]] = []
        for sql, args in statements:
            rows = db.execute(sql, args)
    return rows


def _ddl() -> list[tuple[str, tuple[object, ...]]]:
    return [
        (f"create schema if not exists {KEY_SCHEMA}", ()),
        (
            f"create table if not exists {KEY_SCHEMA}.{KEY_TABLE} "
            "(fingerprint text not null, recorded_at timestamp not null)",
            (),
        ),
    ]


def stored_fingerprint(warehouse: Warehouse) -> str | None:
    """The fingerprint recorded in the warehouse, or None (no hashed load yet)."""
    rows = _execute(warehouse, [*_ddl(), (f"select fingerprint from {KEY_SCHEMA}.{KEY_TABLE}", ())])
    return str(rows[0][0]) if rows else None


def record_fingerprint(warehouse: Warehouse, value: str) -> None:
    """Make ``value`` the warehouse's key fingerprint (replacing any other)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    _execute(
        warehouse,
        [
            *_ddl(),
            (f"delete from {KEY_SCHEMA}.{KEY_TABLE}", ()),
            (f"insert into {KEY_SCHEMA}.{KEY_TABLE} values (?, ?)", (value, now)),
        ],
    )


@contextmanager
def rotation() -> Iterator[None]:
    """Within: loads skip the check (``rotate-key`` is re-hashing with the new key)."""
    _rotating.active = True
    try:
        yield
    finally:
        _rotating.active = False


def rotating() -> bool:
    """True inside ``rotation()``."""
    return bool(getattr(_rotating, "active", False))


def mismatch(source: Source, current: str, stored: str, where: str) -> KeyMismatch:
    """The refusal of a load whose key is not the one ``where`` was hashed with."""
    return KeyMismatch(
        f"source '{source.name}': the HMAC key (fingerprint {current}) is not the one the "
        f"pseudonyms of {where} were made with (fingerprint {stored}); nothing was loaded. "
        f"Restore that key (${HMAC_KEY_ENV} or ${HMAC_KEY_FILE_ENV}), or run `kspyder pii "
        "rotate-key` to re-hash every source with hashed columns using this key"
    )


def check_key(source: Source, models: list[str], warehouse: Warehouse) -> None:
    """Refuse a load of hashed columns with another key than the warehouse's; record the
    fingerprint on the first such load."""
    if warehouse.kind == "files" or not hashed_models(source, models):
        return
    if rotating():
        return
    current = fingerprint(hmac_key())
    with _lock:
        stored = stored_fingerprint(warehouse)
        if stored is None:
            record_fingerprint(warehouse, current)
    if stored is not None and stored != current:
        raise mismatch(source, current, stored, f"the warehouse ({KEY_SCHEMA}.{KEY_TABLE})")
