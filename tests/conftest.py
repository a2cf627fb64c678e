"""Shared fixtures: an isolated KSPYDER_HOME per test, PostgreSQL databases on loopback, and
one MongoDB wire server (SecantusDB, in memory) for the whole run, emptied after each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pymongo
import pytest

from extract import mongo_server

pytest_plugins = ["tests.helpers.documents"]
PG_ADMIN = "postgresql://postgres:trust@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's MongoDB: ``$KSPYDER_TEST_MONGODB_URI`` if set (any real server), else one
    SecantusDB on a free loopback port, in memory (a dev dependency: nothing is installed
    at test time); yields its URI."""
    given = os.environ.get("KSPYDER_TEST_MONGODB_URI")
    if given:
        yield given
        return
    server = mongo_server.start(tmp_path_factory.mktemp("mongodb"), storage=":memory:")
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def mongodb_uri(mongodb_server: str) -> Iterator[str]:
    """``MONGODB_URI`` of every test; the databases the test created are dropped after it."""
    with pymongo.MongoClient(mongodb_server) as admin:
        before = set(admin.list_database_names())
        yield mongodb_server
        for name in set(admin.list_database_names()) - before:
            admin.drop_database(name)


@pytest.fixture(autouse=True)
def kspyder_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mongodb_uri: str) -> Path:
    """Every test gets its own local state folder, warehouse file and manifests folder, and
    the run's MongoDB server (tests of the embedded server unset ``MONGODB_URI``)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("KSPYDER_HOME", str(home))
    monkeypatch.setenv("KSPYDER_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    monkeypatch.setenv("KSPYDER_MANIFESTS", str(tmp_path / "manifests"))
    monkeypatch.setenv("KSPYDER_HMAC_KEY", "test-hmac-key-0123456789")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the user's key file
    monkeypatch.delenv("KSPYDER_WAREHOUSE", raising=False)
    monkeypatch.setenv("MONGODB_URI", mongodb_uri)
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
