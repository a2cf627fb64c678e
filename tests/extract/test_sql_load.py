"""SQL sources end to end: SQLite, PostgreSQL and MariaDB into DuckDB and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from extract import project
from extract.load import extract_source, make_pipeline
from extract.manifest.typing import Source
from extract.rebuild import drop_source
from extract.sources import build_source
from extract.warehouse import Warehouse, resolve
from tests.helpers import load, query

MANIFEST = """\
kind: sql
connection:
  url: {url}
  chunk_size: 7
models:
  people:
    primary_key: id
    write_disposition: merge
    incremental:
      cursor: updated_at
      initial_value: 2000-01-01 00:00:00
    columns:
      email: hash
      iban: drop
  tags:
    write_disposition: replace
  events:
    write_disposition: append
    incremental:
      cursor: id
      initial_value: 0
  big_spenders:
    query: select id, name from people where id <= 3
    write_disposition: replace
"""

ROWS = [
    (i, f"name{i}", f"person{i}@example.com", f"FR76000{i:05d}", f"2024-01-{i:02d} 10:00:00")
    for i in range(1, 21)
]


def seed(engine: sa.Engine) -> None:
    """Create the three source tables with 20 people, 3 tags and 10 events."""
    with engine.begin() as conn:
        for table in ("people", "tags", "events"):
            conn.execute(sa.text(f"drop table if exists {table}"))
        conn.execute(
            sa.text(
                "create table people (id integer primary key, name varchar(50), "
                "email varchar(100), iban varchar(40), updated_at timestamp)"
            )
        )
        conn.execute(sa.text("create table tags (tag varchar(20))"))
        conn.execute(sa.text("create table events (id integer primary key, kind varchar(20))"))
        conn.execute(
            sa.text("insert into people values (:i, :n, :e, :b, :u)"),
            [dict(zip("inebu", r, strict=True)) for r in ROWS],
        )
        conn.execute(sa.text("insert into tags values ('a'), ('b'), ('c')"))
        conn.execute(
            sa.text("insert into events values (:i, 'click')"), [{"i": i} for i in range(1, 11)]
        )


def _source(folder: Path, url: str) -> Source:
    return load(folder, "src", MANIFEST.format(url=url))


def _warehouse_ref(wh: Warehouse) -> str:
    return wh.sqlalchemy_url() if wh.kind == "postgres" else wh.location


def count(wh: Warehouse, table: str) -> int:
    return int(query(_warehouse_ref(wh), f"select count(*) from src.{table}")[0][0])


def run_full_cycle(source_url: str, folder: Path, wh: Warehouse) -> None:
    """Full load, incremental, merge update, replace, append, PII drop and hash, rebuild."""
    engine = sa.create_engine(source_url)
    seed(engine)
    source = _source(folder, source_url)
    results = {r.model: r for r in extract_source(source, wh)}
    assert {m: r.status for m, r in results.items()} == dict.fromkeys(source.models, "ok")
    assert results["people"].rows == 20
    assert results["events"].rows == 10
    assert count(wh, "people") == 20
    assert count(wh, "tags") == 3
    assert count(wh, "big_spenders") == 3
    ref = _warehouse_ref(wh)
    cols = {r[0] for r in query(ref, _columns_sql("people"))}
    assert "iban" not in cols
    assert "email" in cols
    emails = {r[0] for r in query(ref, "select email from src.people")}
    assert all(len(e) == 64 and "@" not in e for e in emails)

    # second run: nothing new; a merge model re-reads the row at the high-water mark (an
    # update that kept its cursor value must not be lost), and replaces it by key. SQLite
    # compares the seed's text timestamps with the bound one as strings, so it sees none
    again = {r.model: r.rows for r in extract_source(source, wh)}
    boundary = 0 if source_url.startswith("sqlite") else 1
    assert again["people"] == boundary
    assert again["events"] == 0

    # a changed row and new rows: merge updates in place, append adds only the new ones
    with engine.begin() as conn:
        conn.execute(
            sa.text("update people set name='renamed', updated_at=:u where id=5"),
            {"u": "2024-02-01 00:00:00"},
        )
        conn.execute(sa.text("insert into events values (11, 'view'), (12, 'view')"))
        conn.execute(sa.text("delete from tags where tag = 'c'"))
    third = {r.model: r.rows for r in extract_source(source, wh)}
    assert third["people"] == 1 + boundary
    assert third["events"] == 2
    assert count(wh, "people") == 20
    assert query(ref, "select name from src.people where id = 5") == [("renamed",)]
    assert count(wh, "events") == 12
    assert count(wh, "tags") == 2

    # rebuild: drop the schema and reload everything from the source
    drop_source(source, wh)
    rebuilt = {r.model: r for r in extract_source(source, wh)}
    assert rebuilt["people"].rows == 20
    assert count(wh, "events") == 12


def _columns_sql(table: str) -> str:
    return (
        "select column_name from information_schema.columns "
        f"where table_schema = 'src' and table_name = '{table}'"
    )


def test_sqlite_into_duckdb(tmp_path: Path, manifests_dir: Path) -> None:
    run_full_cycle(f"sqlite:///{tmp_path / 'src.sqlite'}", manifests_dir, resolve())


@pytest.mark.postgres
def test_postgres_into_postgres(manifests_dir: Path, pg_source_db: str, pg_database: str) -> None:
    run_full_cycle(pg_source_db, manifests_dir, resolve(pg_database))


@pytest.mark.mysql
def test_mariadb_into_duckdb(manifests_dir: Path) -> None:
    url = "mysql+pymysql://root@127.0.0.1:3306/test"
    try:
        sa.create_engine(url).connect().close()
    except sa.exc.OperationalError as exc:  # pragma: no cover - CI starts MariaDB
        pytest.fail(f"MariaDB is not reachable on 127.0.0.1:3306: {exc}")
    run_full_cycle(url, manifests_dir, resolve())


def test_pii_drop_never_reaches_local_files(tmp_path: Path, manifests_dir: Path) -> None:
    """The dropped column is absent from dlt's extracted, normalized and loaded packages."""
    url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    seed(sa.create_engine(url))
    source = _source(manifests_dir, url)
    extract_source(source, resolve(), ["people"])
    scanned = 0
    for path in project.pipelines_dir().rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            scanned += 1
            assert b"FR76000" not in data, f"dropped IBAN found in {path}"
            assert b"person1@example.com" not in data, f"unhashed email in {path}"
    assert scanned > 0


def test_schema_evolution_new_column(tmp_path: Path, manifests_dir: Path) -> None:
    db = tmp_path / "src.sqlite"
    url = f"sqlite:///{db}"
    seed(sa.create_engine(url))
    source = _source(manifests_dir, url)
    wh = resolve()
    extract_source(source, wh, ["people"])
    con = sqlite3.connect(db)
    con.execute("alter table people add column loyalty_tier text")
    con.execute(
        "update people set loyalty_tier='gold', updated_at='2024-03-01 00:00:00' where id=2"
    )
    con.commit()
    con.close()
    extract_source(source, wh, ["people"])
    rows = query(wh.location, "select loyalty_tier from src.people where id = 2")
    assert rows == [("gold",)]


def test_warehouse_file_deleted_between_runs_reloads_everything(
    tmp_path: Path, manifests_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    seed(sa.create_engine(url))
    source = _source(manifests_dir, url)
    wh = resolve()
    extract_source(source, wh, ["people", "events"])
    Path(wh.location).unlink()
    results = {r.model: r.rows for r in extract_source(source, wh, ["people", "events"])}
    assert results == {"people": 20, "events": 10}


def test_failing_model_keeps_the_others(tmp_path: Path, manifests_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    seed(sa.create_engine(url))
    text = MANIFEST.format(url=url) + "  missing:\n    table: no_such_table\n"
    source = load(manifests_dir, "src", text)
    results = {r.model: r for r in extract_source(source, resolve())}
    assert results["missing"].status == "failed"
    assert "no_such_table" in str(results["missing"].error)
    assert results["people"].status == "ok"
    assert count(resolve(), "people") == 20


def test_files_destination(tmp_path: Path, manifests_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    seed(sa.create_engine(url))
    source = _source(manifests_dir, url)
    out = tmp_path / "out"
    results = extract_source(source, resolve(to="csv", out=out), ["people"])
    assert results[0].status == "ok"
    files = list((out / "src" / "people").glob("*.csv"))
    assert files
    assert "iban" not in files[0].read_text().splitlines()[0]


def test_parquet_for_users_is_compressed_load_files_are_not(
    tmp_path: Path, manifests_dir: Path
) -> None:
    """`--to parquet` files keep snappy; Parquet that only carries rows into DuckDB is plain."""
    import pyarrow.parquet as pq

    from extract import project

    url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    seed(sa.create_engine(url))
    source = _source(manifests_dir, url)
    out = tmp_path / "out"
    assert extract_source(source, resolve(to="parquet", out=out), ["people"])[0].status == "ok"
    pipeline = make_pipeline(source, resolve())  # loaded packages keep no data files:
    pipeline.extract(build_source(source, ["people"]), loader_file_format="parquet")
    pipeline.normalize()  # look at the package before its load

    def codecs(files: list[Path]) -> set[str]:
        assert files
        return {pq.ParquetFile(f).metadata.row_group(0).column(0).compression for f in files}

    assert codecs(list((out / "src" / "people").glob("*.parquet"))) == {"SNAPPY"}
    normalized = project.pipelines_dir() / "kspyder_src" / "load" / "normalized"
    assert codecs(list(normalized.glob("*/new_jobs/people.*.parquet"))) == {"UNCOMPRESSED"}


def test_change_that_cannot_apply_in_place_points_to_rebuild(
    tmp_path: Path, manifests_dir: Path
) -> None:
    db = tmp_path / "src.sqlite"
    url = f"sqlite:///{db}"
    seed(sa.create_engine(url))
    source = _source(manifests_dir, url)
    wh = resolve()
    extract_source(source, wh, ["tags"])
    con = sqlite3.connect(db)
    con.execute("alter table tags add column weight integer not null default 1")
    con.commit()
    con.close()
    text = MANIFEST.format(url=url).replace(
        "  tags:\n    write_disposition: replace\n",
        "  tags:\n    write_disposition: replace\n"
        "    columns: {weight: {type: bigint, nullable: false}}\n",
    )
    changed = load(manifests_dir, "src", text)
    failed = extract_source(changed, wh, ["tags"])[0]
    assert failed.status == "failed"
    assert "run `kspyder rebuild src`" in str(failed.error)
    drop_source(changed, wh)
    assert extract_source(changed, wh, ["tags"])[0].status == "ok"
    assert query(wh.location, "select sum(weight) from src.tags") == [(3,)]
