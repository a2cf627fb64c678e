"""Incremental loads and pagination that never drop rows without a word.

Each case runs a real source (SQLite file, PostgreSQL or MariaDB on loopback; a REST API on
a loopback HTTP server) into DuckDB or PostgreSQL, twice where the second run is the point,
and compares what the warehouse holds with what the source holds. "ok" must mean every row
arrived; anything else is a failed model or a model with status ``warn`` naming why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from extract.load import ModelResult, extract_source
from extract.manifest.typing import Source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query
from tests.reliability.helpers import source_from, wh_ref

T0 = datetime(2024, 1, 1, 10, 0, 0)
T1 = datetime(2024, 1, 1, 11, 0, 0)
T2 = datetime(2024, 1, 1, 12, 0, 0)
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
# (source database, warehouse): each SQL case runs on these three pairs
PAIRS = [("sqlite", "duckdb"), ("postgres", "postgres"), ("mariadb", "duckdb")]


@dataclass
class SourceDB:
    """A source table ``items_<hex>(id, name, version, updated_at)`` in a real database."""

    url: str
    table: str

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.url)
        self.meta = sa.MetaData()
        self.items = sa.Table(
            self.table,
            self.meta,
            sa.Column("id", sa.Integer),  # no key constraint: sources do hold duplicates
            sa.Column("name", sa.String(50)),
            sa.Column("version", sa.Integer),
            sa.Column("updated_at", sa.DateTime, nullable=True),
        )
        self.meta.create_all(self.engine)

    def insert(self, *rows: tuple[int, str, datetime | None], version: int = 1) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.items.insert(),
                [{"id": i, "name": n, "version": version, "updated_at": t} for i, n, t in rows],
            )

    def execute(self, sql: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql.format(table=self.table)))

    def drop(self) -> None:
        self.meta.drop_all(self.engine)
        self.engine.dispose()


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SourceDB, Warehouse]]:
    """A source table and a warehouse for one (source database, warehouse) pair."""
    kind, warehouse = request.param
    table = f"items_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    elif kind == "postgres":
        url = request.getfixturevalue("pg_source_db")
    else:
        url = MARIADB
    wh = resolve(request.getfixturevalue("pg_database")) if warehouse == "postgres" else resolve()
    db = SourceDB(url, table)
    try:
        yield db, wh
    finally:
        db.drop()


def sql_source(folder: Path, db: SourceDB, extra: str = "", model: str = "") -> Source:
    """A merge model on ``updated_at``; ``extra`` adds incremental keys, ``model`` model keys."""
    text = (
        f'kind: sql\nconnection: {{url: "{db.url}"}}\n'
        "models:\n  items:\n"
        f"    table: {db.table}\n"
        "    primary_key: id\n    write_disposition: merge\n"
        f"{model}"
        '    incremental: {cursor: updated_at, initial_value: "2000-01-01 00:00:00"'
        f"{extra}}}\n"
    )
    return source_from(folder, "inc", text)


def run(source: Source, wh: Warehouse, full_refresh: bool = False) -> ModelResult:
    return extract_source(source, wh, full_refresh=full_refresh)[0]


def rows(wh: Warehouse, table: str = "inc.items", cols: str = "id, name") -> list[tuple[Any, ...]]:
    return sorted(query(wh_ref(wh), f"select {cols} from {table} order by 1"))


# --- incremental SQL models -------------------------------------------------------------


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_null_cursor_rows_are_loaded_and_counted(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "a", T0), (2, "b", T1), (3, "no cursor", None))
    source = sql_source(manifests_dir, db)
    first = run(source, wh)
    db.insert((4, "d", T2))
    second = run(source, wh)
    got = rows(wh)
    reliability.record(
        case="rows whose cursor is NULL (on_null_cursor: include, the default)",
        injected="1 of 3 source rows has updated_at NULL; a second run after one more row",
        expected="all 4 rows in the warehouse once each; the summary counts the NULL rows",
        rows_lost=4 - len({r[0] for r in got}),
        duplicates=len(got) - len({r[0] for r in got}),
        survived=int(len(got) == 4),
    )
    assert got == [(1, "a"), (2, "b"), (3, "no cursor"), (4, "d")]
    assert first.status == "ok"
    assert first.extra.get("null_cursor") == 1
    assert second.extra.get("null_cursor") == 1  # re-read each run, de-duplicated by merge


def test_null_cursor_policies_exclude_and_fail(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    db = SourceDB(f"sqlite:///{tmp_path / 'src.sqlite'}", "items")
    db.insert((1, "a", T0), (2, "no cursor", None))
    excluded = run(sql_source(manifests_dir, db, ", on_null_cursor: exclude"), resolve())
    kept = rows(resolve())
    failed = run(sql_source(manifests_dir, db, ", on_null_cursor: fail"), resolve(), True)
    reliability.record(
        case="on_null_cursor: exclude and fail",
        injected="1 of 2 source rows has updated_at NULL",
        expected="exclude: 1 row, the skipped one counted; fail: the model fails naming it",
        survived=int(kept == [(1, "a")] and failed.status == "failed"),
    )
    assert kept == [(1, "a")]
    assert excluded.extra.get("null_cursor") == 1
    assert failed.status == "failed"
    assert "1 row(s)" in str(failed.error)
    assert "updated_at" in str(failed.error)


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_lookback_reads_back_dated_rows(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "a", T0), (2, "b", T1))
    source = sql_source(manifests_dir, db, ", lookback: 3600")
    run(source, wh)
    db.insert((3, "back-dated", datetime(2024, 1, 1, 10, 30)), (4, "new", T2))
    second = run(source, wh)
    got = rows(wh)
    ids = [r[0] for r in got]
    reliability.record(
        case="a row back-dated below the high-water mark (lookback: 3600 s)",
        injected="after a run up to 11:00, rows at 10:30 (late) and 12:00 are inserted",
        expected="both arrive, nothing is duplicated by the re-read window",
        rows_lost=4 - len(set(ids)),
        duplicates=len(ids) - len(set(ids)),
        survived=int(ids == [1, 2, 3, 4]),
    )
    assert ids == [1, 2, 3, 4]
    assert second.status == "ok"


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_duplicate_keys_keep_the_newest_version(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "new", T1), (1, "old", T0), (2, "old", T0), (2, "new", T1))
    result = run(sql_source(manifests_dir, db), wh)
    got = rows(wh)
    reliability.record(
        case="two versions of a key in one read (merge)",
        injected="the source holds ids 1 and 2 twice, newer first for 1, older first for 2",
        expected="the newer version by the cursor wins; 4 received, 2 kept",
        duplicates=len(got) - 2,
        rows_lost=sum(1 for r in got if r[1] != "new"),
        survived=int(got == [(1, "new"), (2, "new")]),
    )
    assert got == [(1, "new"), (2, "new")]
    assert (result.rows_received, result.rows) == (4, 2)


def test_dedup_sort_column_decides_between_versions(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    db = SourceDB(f"sqlite:///{tmp_path / 'src.sqlite'}", "items")
    db.insert((1, "v2", T0), version=2)
    db.insert((1, "v1", T0), version=1)
    db.insert((1, "v3", T0), version=3)
    run(sql_source(manifests_dir, db, model="    dedup_sort: version\n"), resolve())
    got = rows(resolve())
    reliability.record(
        case="versions with the same cursor value, dedup_sort: version",
        injected="three versions of id 1 share updated_at; version 3 is the newest",
        expected="version 3 is kept",
        survived=int(got == [(1, "v3")]),
    )
    assert got == [(1, "v3")]


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_update_at_the_cursor_boundary_is_not_dropped(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "a", T0), (2, "b", T1))
    source = sql_source(manifests_dir, db)
    run(source, wh)
    db.execute("update {table} set name = 'changed' where id = 2")  # cursor stays at the max
    run(source, wh)
    got = rows(wh)
    reliability.record(
        case="a row updated while its cursor equals the stored maximum (merge)",
        injected="id 2 (updated_at = the high-water mark) changes without a new updated_at",
        expected="the second run loads the change",
        rows_lost=int((2, "changed") not in got),
        survived=int(got == [(1, "a"), (2, "changed")]),
    )
    assert got == [(1, "a"), (2, "changed")]


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_append_without_key_or_cursor_warns_of_duplicates(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "a", T0), (2, "b", T1))
    text = f'kind: sql\nconnection: {{url: "{db.url}"}}\nmodels:\n  items: {{table: {db.table}}}\n'
    source = source_from(manifests_dir, "inc", text)
    first, second = run(source, wh), run(source, wh)
    reliability.record(
        case="append model without key or cursor, run twice",
        injected="write_disposition append (the default), no primary_key, no incremental",
        expected="the second run is 'warn', naming the model's key path and the fix",
        duplicates=len(rows(wh)) - 2,
        survived=int(second.status == "warn"),
        notes="the rows are appended as declared; the warning says why they double",
    )
    assert first.status == "ok"
    assert second.status == "warn"
    assert "manifests/inc.yml models.items" in " ".join(second.warnings)
    assert "2 rows appended again" in " ".join(second.warnings)


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_new_source_column_names_the_backfill_command(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "a", T0), (2, "b", T0), (3, "c", T1))
    source = sql_source(manifests_dir, db)
    run(source, wh)
    db.execute("alter table {table} add column region varchar(20)")
    db.execute("update {table} set region = 'eu'")
    db.insert((4, "d", T2))
    db.execute("update {table} set region = 'us' where id = 4")
    second = run(source, wh)
    null_before = query(wh_ref(wh), "select count(*) from inc.items where region is null")[0][0]
    third = run(source, wh, full_refresh=True)
    null_after = query(wh_ref(wh), "select count(*) from inc.items where region is null")[0][0]
    hint = "kspyder extract inc --model items --full-refresh"
    reliability.record(
        case="a column added to the source of an incremental model",
        injected="column region added and filled for every row; one new row after",
        expected="'warn' naming the column, the rows left NULL and the back-fill command",
        survived=int(second.status == "warn" and null_after == 0),
        notes=f"{null_before} older rows (below the cursor) stay NULL until the back-fill",
    )
    assert second.status == "warn"
    assert "region" in " ".join(second.warnings)
    assert hint in " ".join(second.warnings)
    assert null_before == 2
    assert third.status == "ok"
    assert null_after == 0


@pytest.mark.mysql
@pytest.mark.parametrize("env", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_first_run_with_no_rows_from_a_full_source_warns(
    env: tuple[SourceDB, Warehouse], manifests_dir: Path, reliability: Any
) -> None:
    db, wh = env
    db.insert((1, "a", T0), (2, "b", T1))
    text = (
        f'kind: sql\nconnection: {{url: "{db.url}"}}\nmodels:\n  items:\n'
        f"    table: {db.table}\n    primary_key: id\n    write_disposition: merge\n"
        '    incremental: {cursor: updated_at, initial_value: "2030-01-01 00:00:00"}\n'
    )
    result = run(source_from(manifests_dir, "inc", text), wh)
    reliability.record(
        case="first incremental run loads nothing from a source with rows",
        injected="initial_value later than every cursor value",
        expected="'warn': 0 of 2 rows, naming initial_value",
        survived=int(result.status == "warn"),
    )
    assert result.status == "warn"
    assert result.rows == 0
    assert "0 of 2 source rows" in " ".join(result.warnings)


# --- REST ---------------------------------------------------------------------------------


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), content_type="application/json", headers=headers or {})


def rest_source(folder: Path, server: HTTPServer, model: str) -> Source:
    text = f'kind: rest\nclient: {{base_url: "{server.url_for("/")}"}}\nmodels:\n{model}'
    return source_from(folder, "api", text)


def test_endpoint_ignoring_the_incremental_parameter_warns(
    httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    records = [{"id": i, "updated_at": f"2024-01-0{i}T00:00:00Z"} for i in (1, 2, 3)]
    seen: list[str | None] = []

    def answer(request: Request) -> Response:
        seen.append(request.args.get("since"))
        return _json(records)  # every record, whatever `since` says

    httpserver.expect_request("/items").respond_with_handler(answer)
    model = (
        "  items:\n    endpoint: {path: /items, paginator: single_page}\n"
        "    primary_key: id\n    write_disposition: merge\n"
        "    incremental: {cursor: updated_at, param: since,\n"
        '                  initial_value: "2000-01-01T00:00:00Z"}\n'
    )
    source = rest_source(manifests_dir, httpserver, model)
    first, second = run(source, resolve()), run(source, resolve())
    reliability.record(
        case="REST endpoint ignores the incremental parameter",
        injected="the API returns all 3 records whatever `since` is",
        expected="second run 'warn': 2 records older than the cursor sent",
        survived=int(second.status == "warn"),
    )
    assert seen[-1] == "2024-01-03T00:00:00Z"
    assert first.status == "ok"
    assert second.status == "warn"
    assert "2 record(s) older than" in " ".join(second.warnings)


@pytest.mark.parametrize(
    ("paginator", "declared", "served"),
    [("header_link", 2500, 100), ("offset_total", 250, 240), ("header_link", 100, 100)],
    ids=["header-link-first-page-only", "offset-short-walk", "matching-total"],
)
def test_declared_total_must_match_the_walk(
    httpserver: HTTPServer,
    manifests_dir: Path,
    reliability: Any,
    paginator: str,
    declared: int,
    served: int,
) -> None:
    data = [{"id": i} for i in range(served)]

    def answer(request: Request) -> Response:
        offset = int(request.args.get("offset", 0))
        page = data[offset : offset + 100]
        if paginator == "header_link":  # no Link header: the walk ends after one page
            return _json(page, {"X-Total-Count": str(declared)})
        return _json({"total": declared, "items": page})

    httpserver.expect_request("/items").respond_with_handler(answer)
    spec = (
        "{type: header_link}"
        if paginator == "header_link"
        else "{type: offset, limit: 100, total_path: total}"
    )
    selector = ", data_selector: items" if paginator != "header_link" else ""
    model = f"  items:\n    endpoint: {{path: /items, paginator: {spec}{selector}}}\n"
    result = run(rest_source(manifests_dir, httpserver, model), resolve())
    ok = declared == served
    reliability.record(
        case=f"declared total vs records walked ({paginator}, {served} of {declared})",
        injected=f"the API declares {declared} records and serves {served}",
        expected="ok when they match, else the model fails with both numbers",
        survived=int((result.status == "ok") == ok),
        rows_lost=0 if result.status == "failed" or ok else declared - served,
    )
    if ok:
        assert result.status == "ok"
        assert result.rows == served
    else:
        assert result.status == "failed"
        assert f"{served:,} of {declared:,}" in str(result.error)


@pytest.mark.parametrize("wh_kind", ["duckdb", "postgres"])
def test_records_carrying_dlt_reserved_names_keep_their_children(
    httpserver: HTTPServer,
    manifests_dir: Path,
    reliability: Any,
    request: pytest.FixtureRequest,
    wh_kind: str,
) -> None:
    records = [
        {"id": 1, "_dlt_id": "same", "_dlt_load_id": "x", "tags": [{"t": "a"}, {"t": "b"}]},
        {"id": 2, "_dlt_id": "same", "_dlt_load_id": "x", "tags": [{"t": "c"}]},
    ]
    httpserver.expect_request("/items").respond_with_handler(lambda r: _json(records))
    model = (
        "  items: {endpoint: {path: /items, paginator: single_page}, primary_key: id, "
        "write_disposition: merge}\n"
    )
    source = rest_source(manifests_dir, httpserver, model)
    wh = resolve(request.getfixturevalue("pg_database")) if wh_kind == "postgres" else resolve()
    run(source, wh)
    result = run(source, wh)
    parents = rows(wh, "api.items", "id, _source_dlt_id")
    children = query(wh_ref(wh), "select count(*) from api.items__tags")[0][0]
    reliability.record(
        case=f"records carrying dlt's reserved names ({wh_kind})",
        injected="two records share `_dlt_id` and carry `_dlt_load_id`; each has child rows",
        expected="renamed to _source_dlt_id/_source_dlt_load_id; 2 parents, 3 children",
        rows_lost=(2 - len(parents)) + (3 - int(children)),
        survived=int(len(parents) == 2 and children == 3),
    )
    assert result.status == "ok"
    assert parents == [(1, "same"), (2, "same")]
    assert children == 3


def test_rest_lookback_keeps_late_records(
    httpserver: HTTPServer, manifests_dir: Path, reliability: Any
) -> None:
    records = [{"id": 1, "updated_at": "2024-01-01T10:00:00Z"}]

    def answer(request: Request) -> Response:  # honours `since`
        since = request.args.get("since", "")
        return _json([r for r in records if r["updated_at"] >= since])

    httpserver.expect_request("/items").respond_with_handler(answer)
    model = (
        "  items:\n    endpoint: {path: /items, paginator: single_page}\n"
        "    primary_key: id\n    write_disposition: merge\n"
        "    incremental: {cursor: updated_at, param: since, lookback: 3600,\n"
        '                  initial_value: "2024-01-01T00:00:00Z"}\n'
    )
    source = rest_source(manifests_dir, httpserver, model)
    run(source, resolve())
    records.append({"id": 2, "updated_at": "2024-01-01T09:30:00Z"})  # late by 30 minutes
    second = run(source, resolve())
    got = rows(resolve(), "api.items", "id, updated_at")
    reliability.record(
        case="REST record arriving late inside the lookback window",
        injected="after a run up to 10:00, a record stamped 09:30 appears (lookback: 3600)",
        expected="the second run sends since=09:00 and keeps the late record",
        rows_lost=2 - len(got),
        survived=int(len(got) == 2),
    )
    assert second.status == "ok"
    assert [r[0] for r in got] == [1, 2]


# --- counting -----------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["csv", "json", "parquet"])
def test_files_destinations_count_rows_not_cells(
    httpserver: HTTPServer, manifests_dir: Path, tmp_path: Path, reliability: Any, to: str
) -> None:
    records = [{"id": i, "a": "x", "b": 2, "c": 3.5} for i in range(5)]
    httpserver.expect_request("/items").respond_with_handler(lambda r: _json(records))
    model = "  items: {endpoint: {path: /items, paginator: single_page}}\n"
    source = rest_source(manifests_dir, httpserver, model)
    result = run(source, resolve(to=to, out=tmp_path / "out"))
    reliability.record(
        case=f"rows reported for --to {to} (REST records)",
        injected="5 records of 4 fields (6 columns with dlt's)",
        expected="the summary says 5 rows",
        survived=int(result.rows == 5),
        notes=f"reported {result.rows}",
    )
    assert result.status == "ok"
    assert result.rows == 5


def test_rows_of_a_pending_package_are_reported(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    from extract.load import make_pipeline
    from extract.sources import build_source

    db = SourceDB(f"sqlite:///{tmp_path / 'src.sqlite'}", "items")
    db.insert((1, "a", T0), (2, "b", T1), (3, "c", T2))
    text = (
        f'kind: sql\nconnection: {{url: "{db.url}"}}\nmodels:\n'
        "  items: {table: items, incremental: {cursor: id, initial_value: 0}}\n"
    )
    source = source_from(manifests_dir, "inc", text)
    make_pipeline(source, resolve()).extract(build_source(source, ["items"]))  # crash: pending
    result = run(source, resolve())
    held = len(rows(resolve()))
    reliability.record(
        case="a package left pending by an earlier run is finished at the start of the next",
        injected="an extracted, never loaded package of 3 rows",
        expected="the run loads it and reports its 3 rows",
        rows_lost=3 - held,
        survived=int(result.rows == 3 and held == 3),
        notes=f"reported {result.rows}",
    )
    assert held == 3
    assert result.status == "ok"
    assert result.rows == 3
    assert result.extra.get("settled") == 3
