"""``kspyder rebuild`` is a true reset: raw and staging schemas, pending packages, local state,
MongoDB for document sources, and an unreadable DuckDB file set aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from extract import mongo, project
from extract.load import extract_source
from extract.warehouse import Warehouse, resolve
from flows.cli import build_app
from tests.helpers import query, write_manifest
from tests.reliability.helpers import source_from, sqlite_exec, table_exists, wh_ref


def _seeded(tmp_path: Path) -> Path:
    db = tmp_path / "src.sqlite"
    sqlite_exec(
        db,
        "create table alpha (id integer primary key, a text)",
        "create table omega (id integer primary key, o text)",
        "insert into alpha values (1, 'x'), (2, 'y')",
        "insert into omega values (1, 'z')",
    )
    return db


def _manifest(db: Path, target: str = "warehouse") -> str:
    return (
        f'kind: sql\ntarget: {target}\nconnection: {{url: "sqlite:///{db}"}}\n'
        "defaults: {write_disposition: merge, primary_key: id}\n"
        "models:\n  alpha: {}\n  omega: {}\n"
    )


def _schema_exists(warehouse: Warehouse, schema: str) -> bool:
    sql = f"select count(*) from information_schema.schemata where schema_name = '{schema}'"
    return bool(query(wh_ref(warehouse), sql)[0][0])


@pytest.mark.postgres
def test_rebuild_drops_raw_staging_and_local_state(
    tmp_path: Path, manifests_dir: Path, pg_database: str, reliability: Any
) -> None:
    """dlt's merge leaves ``<source>_staging``: it goes with the raw schema and local state."""
    from extract.rebuild import drop_source

    source = source_from(manifests_dir, "iso", _manifest(_seeded(tmp_path)))
    warehouse = resolve(pg_database)
    assert {r.status for r in extract_source(source, warehouse)} == {"ok"}
    staging_before = _schema_exists(warehouse, "iso_staging")
    drop_source(source, warehouse)
    left = [s for s in ("iso", "iso_staging") if _schema_exists(warehouse, s)]
    local = (project.pipelines_dir() / project.pipeline_name("iso")).exists()
    reliability.record(
        case="kspyder rebuild drops raw, staging and local state",
        injected="a merge source loaded once (dlt leaves a `<source>_staging` schema)",
        expected="after rebuild no iso or iso_staging schema and no local pipeline remain",
        survived=int(not left and not local),
    )
    assert staging_before, "dlt's merge did not create iso_staging: the test proves nothing"
    assert left == []
    assert not local
    assert {r.status for r in extract_source(source, warehouse)} == {"ok"}


def test_corrupted_duckdb_says_rebuild_and_rebuild_succeeds(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    write_manifest(manifests_dir, "iso", _manifest(_seeded(tmp_path)))
    runner, app = CliRunner(), build_app()
    assert runner.invoke(app, ["extract", "iso"]).exit_code == 0
    path = project.duckdb_path()
    data = path.read_bytes()
    path.write_bytes(b"\0" * 4096 + data[4096 : len(data) // 2])  # header and half gone
    broken = runner.invoke(app, ["extract", "iso"])
    flat = "".join(broken.output.split())  # the console wraps long lines anywhere
    said = str(path) in flat and "run`kspyderrebuild`" in flat
    rebuilt = runner.invoke(app, ["rebuild", "iso"])
    rows = query(str(path), "select count(*) from iso.alpha")[0][0] if path.exists() else 0
    aside = list(path.parent.glob(f"{path.name}.corrupt-*"))
    reliability.record(
        case="corrupted DuckDB warehouse file",
        injected="the warehouse file's header zeroed and its second half cut off",
        expected="the run fails in one line naming the file and `kspyder rebuild`; rebuild "
        "sets the file aside and reloads",
        survived=int(broken.exit_code == 1 and said and rebuilt.exit_code == 0),
        rows_lost=2 - int(rows),
    )
    assert broken.exit_code == 1, broken.output
    assert said, broken.output
    assert "credentials" not in broken.output
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rows == 2
    assert len(aside) == 1


def test_rebuild_of_a_documents_source_reloads_mongodb(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    db = _seeded(tmp_path)
    write_manifest(manifests_dir, "docs", _manifest(db, target="documents"))
    runner, app = CliRunner(), build_app()
    try:
        assert runner.invoke(app, ["extract", "docs"]).exit_code == 0
        mongo.insert("docs", "alpha", [{"id": 99, "a": "junk"}])  # a broken collection
        mongo.flush("docs")
        sqlite_exec(db, "delete from alpha where id = 2")
        rebuilt = runner.invoke(app, ["rebuild", "docs"])
        ids = sorted(d["id"] for d in mongo.find("docs", "alpha"))
        in_warehouse = project.duckdb_path().exists() and table_exists(resolve(), "docs", "alpha")
    finally:
        mongo.close()
    reliability.record(
        case="kspyder rebuild of a documents source",
        injected="a junk document in the collection; a row deleted at the source",
        expected="rebuild drops the MongoDB database and reloads it; nothing goes to DuckDB",
        survived=int(rebuilt.exit_code == 0 and ids == [1] and not in_warehouse),
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert ids == [1]
    assert not in_warehouse
