"""Partitioned connectorx reads: a full table with an integer key is read in parallel
ranges, and every row arrives exactly once whatever the key values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import connectorx
import psycopg2
import pytest
import sqlalchemy as sa

from extract.load import extract_source
from extract.sql import READ_PARTITIONS_ENV, key_range, read_partitions
from extract.warehouse import resolve
from tests.helpers import load, query

BIG = 2**63 - 1
TABLES = {
    # name: (key type, key values)
    "gappy": ("integer", [-50, -3, 1, 2, 5, 8, 13, 1000, 10**9]),
    "extremes": ("bigint", [-BIG - 1, 0, 7, BIG]),  # connectorx's ranges overflow here
    "top": ("bigint", [0, 5, BIG]),
    "empty": ("integer", []),
    "texty": ("text", ["a", "b", "c"]),
}


def _table(*columns: sa.Column[Any]) -> sa.Table:
    return sa.Table("t", sa.MetaData(), *columns)


@pytest.mark.parametrize(
    ("table", "incremental", "limited", "expected"),
    [
        (_table(sa.Column("id", sa.Integer, primary_key=True)), None, False, "id"),
        (_table(sa.Column("k", sa.BigInteger, primary_key=True)), None, False, "k"),
        (_table(sa.Column("id", sa.Text, primary_key=True)), None, False, None),
        (_table(sa.Column("id", sa.Integer)), None, False, None),  # no primary key
        (
            _table(
                sa.Column("a", sa.Integer, primary_key=True),
                sa.Column("b", sa.Integer, primary_key=True),
            ),
            None,
            False,
            None,
        ),
        (_table(sa.Column("id", sa.Integer, primary_key=True)), object(), False, None),
        (_table(sa.Column("id", sa.Integer, primary_key=True)), None, True, None),
    ],
)
def test_only_full_reads_of_a_single_integer_key_are_split(
    table: sa.Table, incremental: Any, limited: bool, expected: str | None
) -> None:
    chosen = read_partitions(table, incremental, limited)
    assert chosen.get("partition_on") == expected
    assert (chosen.get("partition_num") == 2) is (expected is not None)


def test_one_partition_turns_splitting_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_PARTITIONS_ENV, "1")
    assert read_partitions(_table(sa.Column("id", sa.Integer, primary_key=True)), None, False) == {}


def _seed(url: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name, (kind, keys) in TABLES.items():
            cur.execute(f"create table {name} (id {kind} primary key, v text)")
            for key in keys:
                cur.execute(f"insert into {name} values (%s, %s)", (key, f"v{key}"))
    conn.close()


@pytest.mark.postgres
def test_key_range_refuses_spans_connectorx_gets_wrong(pg_source_db: str) -> None:
    _seed(pg_source_db)
    engine = sa.create_engine(pg_source_db)
    meta = sa.MetaData()
    ranges = {
        name: key_range(engine, sa.Table(name, meta, autoload_with=engine), "id")
        for name in ("gappy", "extremes", "top", "empty")
    }
    assert ranges == {"gappy": (-50, 10**9), "extremes": None, "top": None, "empty": None}


@pytest.mark.postgres
def test_partitioned_reads_load_every_row_exactly(
    manifests_dir: Path, pg_source_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(pg_source_db)
    calls: list[dict[str, Any]] = []
    original = connectorx.read_sql

    def spy(conn: Any, sql: Any, **kwargs: Any) -> Any:
        calls.append({"sql": str(sql), **kwargs})
        return original(conn, sql, **kwargs)

    monkeypatch.setattr(connectorx, "read_sql", spy)
    models = "".join(
        f"  {name}:\n    primary_key: id\n    write_disposition: replace\n" for name in TABLES
    )
    source = load(
        manifests_dir, "parts", f"kind: sql\nconnection:\n  url: {pg_source_db}\nmodels:\n{models}"
    )
    warehouse = resolve()
    results = {r.model: r for r in extract_source(source, warehouse)}

    for name, (_, keys) in TABLES.items():
        assert results[name].status == "ok", results[name].error
        assert results[name].rows == len(keys), name
        rows = query(warehouse.location, f"select id, v from parts.{name}")
        assert sorted(rows) == sorted((k, f"v{k}") for k in keys), name
    split = [c for c in calls if "partition_on" in c]
    assert len(split) == 1
    assert "gappy" in split[0]["sql"]
    assert split[0]["partition_range"] == (-50, 10**9)
    assert split[0]["partition_num"] == 2
