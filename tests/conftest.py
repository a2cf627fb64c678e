"""Shared fixtures: an isolated KSPYDER_HOME per test, PostgreSQL databases on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

PG_ADMIN = "postgresql://postgres:trust@127.0.0.1:5432/postgres"


@pytest.fixture(autouse=True)
def kspyder_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own local state folder, warehouse file and manifests folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("KSPYDER_HOME", str(home))
    monkeypatch.setenv("KSPYDER_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    monkeypatch.setenv("KSPYDER_MANIFESTS", str(tmp_path / "manifests"))
    monkeypatch.setenv("KSPYDER_HMAC_KEY", "test-hmac-key-0123456789")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the user's key file
    monkeypatch.delenv("KSPYDER_WAREHOUSE", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    (tmp_path / "manifests").mkdir()
    return home


@pytest.fixture
def manifests_dir(tmp_path: Path) -> Path:
    """The test's manifests folder (``$KSPYDER_MANIFESTS``)."""
    return tmp_path / "manifests"


def _admin_exec(sql: str) -> None:
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _fresh_database(prefix: str) -> Iterator[str]:
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    _admin_exec(f'create database "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin_exec(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1, dropped afterwards; yields its URL."""
    yield from _fresh_database("kspyder_t_")


@pytest.fixture
def pg_source_db() -> Iterator[str]:
    """A second fresh database playing the role of a source."""
    yield from _fresh_database("kspyder_s_")
