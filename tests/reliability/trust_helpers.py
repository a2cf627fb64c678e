"""Helpers of the trust-boundary tests: small SQLite sources and a closed loopback port."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


SQLITE_SOURCE = (
    "kind: sql\nconnection: {{url: 'sqlite:///{db}'}}\nmodels:\n  t: {{primary_key: id}}\n"
)
"""A SQL source of one table ``t`` (``.format(db=...)``)."""


def sqlite_table(tmp_path: Path, rows: int = 3) -> Path:
    """``small.sqlite`` with table ``t`` (id, name) of ``rows`` rows."""
    db = tmp_path / "small.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (id integer primary key, name text)")
        conn.executemany("insert into t values (?, ?)", [(i, f"n{i}") for i in range(rows)])
    return db


HASHED_SOURCE = """\
kind: sql
connection: {{url: 'sqlite:///{db}'}}
models:
  customers: {{primary_key: id, columns: {{email: hash}}}}
"""
"""A SQL source whose ``customers.email`` is hashed (``.format(db=...)``)."""


def customers(tmp_path: Path, n: int = 40) -> Path:
    """``crm.sqlite`` with ``n`` customers (id, email ``user<i>@example.com``)."""
    db = tmp_path / "crm.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table customers (id integer primary key, email text)")
        rows = [(i, f"user{i}@example.com") for i in range(n)]
        conn.executemany("insert into customers values (?, ?)", rows)
    return db
