"""One failing model never blocks the others, and type drift stays in its model.

A table that fails in the *load* step (a value the warehouse refuses) sits between two good
tables of one SQLite source. Before the fix, dlt kept the failed package pending and
kspyder retried it before every later model: every table of the source failed with the
first table's error on every run, with ``--model`` and after ``kspyder rebuild``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extract.load import ModelResult, extract_source
from extract.manifest.typing import Source
from extract.rebuild import drop_source
from extract.warehouse import Warehouse, resolve
from tests.helpers import query
from tests.reliability.helpers import (
    pending_packages,
    source_from,
    sqlite_exec,
    table_exists,
    warehouse_for,
    wh_ref,
)

WAREHOUSES = ["duckdb", "postgres"]
# merged by key: a keyless append model re-reading its table would (rightly) warn of duplicates
KEYED = "defaults: {write_disposition: merge, primary_key: id}\n"
# what each warehouse refuses at load time: DuckDB has no DECIMAL wider than 38 digits;
# PostgreSQL cannot store a NUL character in text (COPY fails)
BAD_COLUMN = {
    "duckdb": ("decimal(65,20)", "12345678901234567890123456789012345678901234.5"),
    "postgres": ("text", "a\x00b"),
}


def _source(manifests_dir: Path, db: Path, extra: str = "") -> Source:
    return source_from(
        manifests_dir,
        "iso",
        f'kind: sql\nconnection: {{url: "sqlite:///{db}"}}\n{KEYED}'
        "models:\n  alpha: {}\n  bad: {}\n  omega: {}\n" + extra,
    )


def _seed(db: Path, which: str) -> None:
    kind, value = BAD_COLUMN[which]
    sqlite_exec(
        db,
        "create table alpha (id integer primary key, a text)",
        f"create table bad (id integer primary key, v {kind})",
        "create table omega (id integer primary key, o text)",
        "insert into alpha values (1, 'x'), (2, 'y')",
        "insert into omega values (1, 'z')",
    )
    sqlite_exec(db, "insert into bad values (1, ?)", params=(value,))


def _statuses(results: list[ModelResult]) -> dict[str, str]:
    return {r.model: r.status for r in results}


def _count(warehouse: Warehouse, table: str) -> int:
    if not table_exists(warehouse, "iso", table):
        return 0
    return int(query(wh_ref(warehouse), f"select count(*) from iso.{table}")[0][0])


@pytest.mark.parametrize("which", WAREHOUSES)
def test_failing_table_between_two_good_ones_fails_alone(
    which: str,
    tmp_path: Path,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    db = tmp_path / "iso.sqlite"
    _seed(db, which)
    source, warehouse = _source(manifests_dir, db), warehouse_for(which, request)
    first = extract_source(source, warehouse)
    errors = {r.model: r.error or "" for r in first}
    sqlite_exec(db, "insert into alpha values (3, 'w')", "insert into omega values (2, 'v')")
    second = extract_source(source, warehouse)
    only_omega = extract_source(source, warehouse, ["omega"])
    drop_source(source, warehouse)
    after_rebuild = extract_source(source, warehouse)
    counts = (_count(warehouse, "alpha"), _count(warehouse, "omega"))
    expected = {"alpha": "ok", "bad": "failed", "omega": "ok"}
    survived = [_statuses(r) == expected for r in (first, second, after_rebuild)]
    reliability.record(
        case=f"load-step failure of one table between two good ones ({which})",
        injected=f"table `bad` holds a value {which} refuses at load time; `alpha` and "
        "`omega` are fine; three runs, one with --model omega, one after rebuild",
        expected="`bad` fails alone with its own error on every run; the others load",
        faults=3,
        survived=sum(survived),
        rows_lost=(3 - counts[0]) + (2 - counts[1]),
        notes=f"runs: {[_statuses(r) for r in (first, second, after_rebuild)]}",
    )
    assert _statuses(first) == expected, errors
    assert errors["alpha"] == errors["omega"] == ""
    assert _statuses(second) == expected
    assert _statuses(only_omega) == {"omega": "ok"}
    assert "bad" not in (only_omega[0].error or "")
    assert _statuses(after_rebuild) == expected
    assert counts == (3, 2)
    assert pending_packages("iso") == ([], [])
    bad_error = next(r.error or "" for r in second if r.model == "bad")
    assert "kspyder rebuild" not in bad_error, bad_error


def test_type_drift_fails_its_model_alone_with_a_hint_that_works(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    """An integer column that starts holding 'lots': that model fails naming the column and
    the `columns.<name>.type: text` hint; with the hint and a rebuild it loads exactly."""
    db = tmp_path / "iso.sqlite"
    _seed(db, "duckdb")
    sqlite_exec(db, "drop table bad", "create table bad (id integer primary key, n integer)")
    sqlite_exec(db, "insert into bad values (1, 10), (2, 20)")
    source, warehouse = _source(manifests_dir, db), resolve()
    assert set(_statuses(extract_source(source, warehouse)).values()) == {"ok"}
    sqlite_exec(db, "insert into bad values (3, 'lots')", "insert into omega values (2, 'v')")
    drifted = {r.model: r for r in extract_source(source, warehouse)}
    again = _statuses(extract_source(source, warehouse))
    hinted = source_from(
        manifests_dir,
        "iso",
        f'kind: sql\nconnection: {{url: "sqlite:///{db}"}}\n{KEYED}'
        "models:\n  alpha: {}\n  bad: {columns: {n: {type: text}}}\n  omega: {}\n",
    )
    drop_source(hinted, warehouse)
    rebuilt = _statuses(extract_source(hinted, warehouse))
    values = query(wh_ref(warehouse), "select id, n from iso.bad order by id")
    error = drifted["bad"].error or ""
    reliability.record(
        case="type drift in a SQL column (int column now holds 'lots')",
        injected="SQLite integer column `n` gets the text 'lots'",
        expected="`bad` fails alone naming column n and the columns.n.type hint; others load; "
        "with the hint and `kspyder rebuild` every value arrives",
        faults=2,
        survived=int(drifted["omega"].status == "ok") + int(rebuilt["bad"] == "ok"),
        rows_lost=3 - len(values),
    )
    assert drifted["bad"].status == "failed"
    assert drifted["omega"].status == "ok"
    assert "column n" in error, error
    assert "columns.n.type" in error, error
    assert again == {"alpha": "ok", "bad": "failed", "omega": "ok"}
    assert rebuilt == {"alpha": "ok", "bad": "ok", "omega": "ok"}
    assert values == [(1, "10"), (2, "20"), (3, "lots")]
