"""Small helpers shared by tests: write manifests, query warehouses."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

from extract.manifest.loader import parse_source
from extract.manifest.typing import Source


def write_manifest(folder: Path, name: str, text: str) -> Path:
    """Write ``folder/<name>.yml`` from an indented YAML block."""
    path = folder / f"{name}.yml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def load(folder: Path, name: str, text: str) -> Source:
    """Write a manifest and parse it."""
    return parse_source(write_manifest(folder, name, text))


def query(warehouse_url_or_path: str, sql: str) -> list[tuple[Any, ...]]:
    """Run a query on a DuckDB file path or a PostgreSQL URL."""
    if warehouse_url_or_path.startswith("postgres"):
        conn = psycopg2.connect(warehouse_url_or_path)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()
    con = duckdb.connect(warehouse_url_or_path, read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()
