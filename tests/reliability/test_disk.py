"""Disk: a full disk mid-extract, and what completed load packages keep.

The full disk is real: a 20 MiB tmpfs mounted as ``KSPYDER_HOME`` (dlt's pipelines, its
extract and load packages live there; the warehouse and the source do not), and a table of
~40 MB of incompressible text. Before the fix the half-written extract package stayed in
``normalize/<id>/``, so the disk stayed full and every later run failed the same way.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extract import project
from extract.load import extract_source
from extract.manifest.typing import Source
from extract.warehouse import resolve
from tests.helpers import query
from tests.reliability.helpers import (
    pending_packages,
    source_from,
    sqlite_exec,
    warehouse_for,
    wh_ref,
)

WAREHOUSES = ["duckdb", "postgres"]
BIG_ROWS = 40_000  # 1 KiB of random hex each: twice the 20 MiB disk


@pytest.fixture
def small_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 20 MiB tmpfs as KSPYDER_HOME; the DuckDB warehouse stays on the real disk."""
    home = tmp_path / "small_home"
    home.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(home)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.decode().strip()}")
    monkeypatch.setenv("KSPYDER_HOME", str(home))
    monkeypatch.setenv("KSPYDER_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def _source(folder: Path, db: Path) -> Source:
    return source_from(
        folder,
        "disk",
        f'kind: sql\nconnection: {{url: "sqlite:///{db}", chunk_size: 5000}}\n'
        "defaults: {write_disposition: merge, primary_key: id}\n"
        "models:\n  small: {}\n  big: {}\n",
    )


def _used_mib(path: Path) -> float:
    return shutil.disk_usage(path).used / 2**20


@pytest.mark.parametrize("which", WAREHOUSES)
def test_full_disk_mid_extract_removes_the_partial_package(
    which: str,
    small_home: Path,
    tmp_path: Path,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    db = tmp_path / "disk.sqlite"
    sqlite_exec(
        db,
        "create table small (id integer primary key, a text)",
        "create table big (id integer primary key, a text)",
        "insert into small values (1, 'x'), (2, 'y')",
    )
    rows = [(i, secrets.token_hex(512)) for i in range(BIG_ROWS)]
    con = sqlite3.connect(db)
    con.executemany("insert into big values (?, ?)", rows)
    con.commit()
    con.close()
    source, warehouse = _source(manifests_dir, db), warehouse_for(which, request)
    assert extract_source(source, warehouse, ["small"])[0].status == "ok"

    full = {r.model: r for r in extract_source(source, warehouse)}
    used_after = _used_mib(small_home)
    left = pending_packages("disk")
    small_rows = query(wh_ref(warehouse), "select id, a from disk.small order by id")
    sqlite_exec(db, "delete from big where id >= 2000")  # the disk is large enough again
    rerun = {r.model: r.status for r in extract_source(source, warehouse)}
    big = query(wh_ref(warehouse), "select count(*) from disk.big")[0][0]
    reliability.record(
        case=f"disk full (ENOSPC) mid-extract ({which})",
        injected="a 40 MB table extracted onto a 20 MiB tmpfs KSPYDER_HOME",
        expected="that model fails naming the full disk; the partial package is removed; "
        "the other model and the warehouse are intact; the next run loads",
        survived=int(full["small"].status == "ok" and used_after < 5 and rerun["big"] == "ok"),
        rows_lost=(2 - len(small_rows)) + (2000 - int(big)),
        notes=f"{used_after:.1f} MiB used after the failure",
    )
    assert full["small"].status == "ok"
    assert full["big"].status == "failed"
    assert "No space left" in (full["big"].error or "")
    assert "is full" in (full["big"].error or "")
    assert used_after < 5, f"{used_after:.1f} MiB still used on the 20 MiB disk"
    assert left == ([], [])
    assert small_rows == [(1, "x"), (2, "y")]
    assert rerun == {"small": "ok", "big": "ok"}
    assert big == 2000


def _dlt(*args: str) -> subprocess.CompletedProcess[str]:
    """dlt's own command line, on kspyder's pipelines folder."""
    dlt_cli = str(Path(sys.executable).with_name("dlt"))
    return subprocess.run(
        [dlt_cli, "--non-interactive", "pipeline", "--pipelines-dir", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_loaded_packages_keep_no_raw_values(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    """Completed packages keep state and schema (dlt's ``info`` and ``trace`` work) but not
    their data files: no raw value, not even of a column masked later in dbt, stays local."""
    marker = f"RAW{uuid.uuid4().hex}"
    db = tmp_path / "keep.sqlite"
    sqlite_exec(
        db,
        "create table people (id integer primary key, email text, note text)",
        f"insert into people values (1, '{marker}@example.com', '{marker} note')",
    )
    text = (
        f'kind: sql\nconnection: {{url: "sqlite:///{db}"}}\n'
        "models:\n  people: {write_disposition: replace, columns: {email: mask}}\n"
    )
    source = source_from(manifests_dir, "keep", text)
    for _ in range(3):  # three full refreshes
        assert extract_source(source, resolve())[0].status == "ok"
    pipes = project.pipelines_dir()
    holding = [
        str(p.relative_to(pipes))
        for p in pipes.rglob("*")
        if p.is_file() and marker.encode() in p.read_bytes()
    ]
    name = project.pipeline_name("keep")
    info, trace = _dlt(str(pipes), name, "info"), _dlt(str(pipes), name, "trace")
    reliability.record(
        case="completed load packages keep no raw values",
        injected="three full refreshes of a table whose email is masked only in dbt",
        expected="no file under .kspyder/pipelines holds a loaded value; dlt info/trace work",
        survived=int(not holding and info.returncode == 0 and trace.returncode == 0),
        secrets_leaked=len(holding),
        notes=", ".join(holding)[:200],
    )
    assert holding == [], holding
    assert info.returncode == 0, info.stderr
    assert "Has 3 completed load packages" in info.stdout, info.stdout
    assert trace.returncode == 0, trace.stderr
    assert "is LOADED" in trace.stdout, trace.stderr
