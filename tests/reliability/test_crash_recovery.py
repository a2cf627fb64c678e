"""SIGKILL ``kspyder extract`` in a chosen dlt phase, rerun it: nothing lost, nothing twice.

The phase is read from dlt's pipeline folder (``.kspyder/pipelines/kspyder_erp/``):

- extract: the model's job file is being written under ``normalize/<extract id>/<load id>/``;
- normalize: the extracted package is in ``normalize/extracted/`` and not yet in
  ``load/normalized/``;
- load: the package is in ``load/normalized/`` with some of its jobs in ``completed_jobs/``
  (committed to the warehouse) and the package not yet moved to ``load/loaded/``.

The process is frozen (SIGSTOP) when the phase is seen, the phase is confirmed on disk, then
it is killed (SIGKILL). ``test_sigkill_mid_extract_then_rerun_has_no_duplicate_or_missing_row``
in ``tests/flows/test_flows.py`` kills at a fixed delay; here each phase is hit on purpose, and
the append model is incremental, so a duplicate would show.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demo.api import DemoApi, serve_demo_api
from extract import mongo, project
from extract.warehouse import resolve
from tests.helpers import query, write_manifest
from tests.reliability.helpers import child_env, cli, kill_when, pending_packages, run_cli

pytestmark = pytest.mark.slow

ORDERS = 100_000
ERP = """\
kind: sql
connection:
  url: sqlite:///{db}
  chunk_size: 20000
defaults:
  write_disposition: merge
models:
  customers:
    primary_key: customer_id
    incremental: {{cursor: updated_at, initial_value: "2000-01-01 00:00:00"}}
"""
MODELS = {
    "events": """\
  events:
    table: invoices
    write_disposition: append
    incremental: {cursor: invoice_id, initial_value: 0}
""",
    "orders": """\
  orders:
    primary_key: order_id
    incremental: {cursor: updated_at, initial_value: "2000-01-01 00:00:00"}
""",
}
# model -> (warehouse table, key, source table)
TABLES = {
    "customers": ("erp.customers", "customer_id", "customers"),
    "events": ("erp.events", "invoice_id", "invoices"),
    "orders": ("erp.orders", "order_id", "orders"),
}


@pytest.fixture(scope="module")
def erp_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ERP with 100k orders, built once for the module (the tests only read it)."""
    from demo.erp import build_erp

    db = tmp_path_factory.mktemp("erp") / "erp.sqlite"
    build_erp(db, customers=300, products=20, orders=ORDERS)
    return db


def _source_truth(db: Path) -> dict[str, tuple[int, int]]:
    """(count, sum of keys) per model in the source."""
    con = sqlite3.connect(db)
    try:
        return {
            model: con.execute(f"select count(*), sum({key}) from {table}").fetchone()
            for model, (_, key, table) in TABLES.items()
        }
    finally:
        con.close()


def _pipeline_dir() -> Path:
    return project.pipelines_dir() / "kspyder_erp"


def _files(pattern: str) -> list[Path]:
    """Files matching ``pattern`` now; dlt renames folders while it runs, and pathlib's glob
    raises when a folder vanishes mid-walk: then look again."""
    for _ in range(50):
        try:
            return list(_pipeline_dir().glob(pattern))
        except FileNotFoundError:
            continue
    return []


@dataclass
class Phase:
    """Where to kill: ``ready`` is polled; ``confirm`` checks the frozen process's state."""

    name: str
    injected: str
    ready: Callable[[], bool]
    confirm: Callable[[], bool]
    model: str = "orders"  # the big model loaded after customers: orders (merge) or events


def _extracting(model: str) -> bool:
    return any(p.parts[-4] != "extracted" for p in _files(f"normalize/*/*/new_jobs/{model}.*"))


def _extracted_not_normalized(model: str) -> bool:
    return bool(_files(f"normalize/extracted/*/new_jobs/{model}.*")) and not _files(
        f"load/normalized/*/*/{model}.*"
    )


def _loading_with_committed_jobs(model: str, unfinished: str) -> bool:
    """In load/normalized with a committed job, and ``unfinished`` jobs not all committed."""
    return bool(_files(f"load/normalized/*/completed_jobs/{model}.*")) and not _files(
        f"load/normalized/*/completed_jobs/{unfinished}"
    )


def _schema_has(table: str) -> bool:
    """True when the pipeline's saved schema knows ``table`` (saved at the end of extract)."""
    path = _pipeline_dir() / "schemas" / "erp.schema.json"
    try:
        return f'"{table}"' in path.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return False


PHASES = [
    Phase(
        "extract",
        "SIGKILL while orders (100k rows) are being extracted",
        lambda: _extracting("orders"),
        lambda: _extracting("orders") and not _files("normalize/extracted/*/new_jobs/orders.*"),
    ),
    Phase(
        "extract commit",
        "SIGKILL after the extracted package of orders was committed, before the pipeline "
        "saved its schema",
        lambda: bool(_files("normalize/extracted/*/new_jobs/orders.*")),
        lambda: _extracted_not_normalized("orders") and not _schema_has("orders"),
    ),
    Phase(
        "normalize",
        "SIGKILL after extract completed (schema saved), before the normalized package of "
        "orders is committed",
        lambda: bool(_files("normalize/extracted/*/new_jobs/orders.*")) and _schema_has("orders"),
        lambda: _extracted_not_normalized("orders"),
    ),
    Phase(
        "load (merge)",
        "SIGKILL in the load of orders: staging COPY committed, merge job not done",
        lambda: bool(_files("load/normalized/*/completed_jobs/orders.*.parquet")),
        lambda: _loading_with_committed_jobs("orders", "orders.*.sql"),
    ),
    Phase(
        "load (append)",
        "SIGKILL in the load of events (append): package in load/normalized, some jobs done",
        lambda: bool(
            _files("load/normalized/*/started_jobs/events.*")
            or _files("load/normalized/*/completed_jobs/events.*")
        ),
        lambda: bool(_files("load/normalized/*/*/events.*")),
        model="events",
    ),
]
PHASE_PARAMS = [pytest.param(p, id=p.name) for p in PHASES]


def _orphans(wh: str, table: str) -> int:
    """Rows whose ``_dlt_load_id`` is not a completed load (status 0 in ``_dlt_loads``)."""
    return int(
        query(
            wh,
            f"select count(*) from {table} t left join erp._dlt_loads l "
            "on t._dlt_load_id = l.load_id and l.status = 0 where l.load_id is null",
        )[0][0]
    )


def _existing_tables(wh: str) -> set[str]:
    rows = query(wh, "select table_name from information_schema.tables where table_schema='erp'")
    return {f"erp.{r[0]}" for r in rows}


def _first_failure(stderr: str) -> str:
    """The first ``failed extract ...`` line of the CLI's output (unwrapped)."""
    text = " ".join(stderr.split())
    start = text.find("failed extract")
    return text[start : start + 120] if start >= 0 else text[-120:]


def _inspect_at_kill(wh: str) -> str:
    """Rows already in the warehouse at the kill, and how many lack a completed load."""
    import duckdb

    if not Path(wh).exists():
        return "no warehouse file yet"
    try:
        con = duckdb.connect(wh)  # read-write: replays a WAL left by the killed process
        try:
            tables = {
                f"erp.{r[0]}"
                for r in con.execute(
                    "select table_name from information_schema.tables where table_schema='erp'"
                ).fetchall()
            }
            if "erp._dlt_loads" not in tables:
                return "no completed load yet"
            found = []
            for table, _, _ in TABLES.values():
                if table in tables:
                    rows = con.execute(f"select count(*) from {table}").fetchone()
                    orphans = con.execute(
                        f"select count(*) from {table} t left join erp._dlt_loads l on "
                        "t._dlt_load_id = l.load_id and l.status = 0 where l.load_id is null"
                    ).fetchone()
                    found.append(
                        f"{table} {rows[0] if rows else 0} rows, "
                        f"{orphans[0] if orphans else 0} outside a completed load"
                    )
            return "; ".join(found)
        finally:
            con.close()
    except duckdb.Error as exc:
        return f"warehouse unreadable: {exc}"[:160]


def _kill_in(phase: Phase, attempts: int = 4) -> tuple[bool, int]:
    """Start ``kspyder extract erp`` and kill it in ``phase``; retry from scratch if missed."""
    for attempt in range(1, attempts + 1):
        proc = subprocess.Popen(
            cli("extract", "erp"),
            cwd=project.ROOT,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if kill_when(proc, phase.ready, phase.confirm):
            return True, attempt
        shutil.rmtree(project.pipelines_dir(), ignore_errors=True)  # missed: start over
        Path(resolve().location).unlink(missing_ok=True)
    return False, attempts


@pytest.mark.parametrize("phase", PHASE_PARAMS)
def test_sigkill_in_phase_then_rerun_is_exact(
    phase: Phase, erp_db: Path, manifests_dir: Path, reliability: Any
) -> None:
    write_manifest(manifests_dir, "erp", ERP.format(db=erp_db) + MODELS[phase.model])
    truth = {m: v for m, v in _source_truth(erp_db).items() if m in ("customers", phase.model)}
    killed, attempts = _kill_in(phase)
    if not killed and phase.name == "extract commit":  # a window of a few ms: rarely missed
        pytest.skip(f"the {phase.name} window was missed {attempts} times")
    wh = resolve().location
    at_kill = _inspect_at_kill(wh)
    rerun = run_cli("extract", "erp")
    lost = dups = orphans = 0
    counts = {}
    present = _existing_tables(wh) if Path(wh).exists() else set()
    for model, (table, key, _) in TABLES.items():
        if model not in truth:
            continue
        count, distinct, total = (0, 0, 0)
        if table in present:
            count, distinct, total = query(
                wh, f"select count(*), count(distinct {key}), coalesce(sum({key}), 0) from {table}"
            )[0]
            orphans += _orphans(wh, table)
        counts[model] = (count, distinct, total)
        lost += truth[model][0] - distinct
        dups += count - distinct
    left = pending_packages("erp")
    reliability.record(
        case=f"SIGKILL during {phase.name} of a SQL source, then rerun",
        injected=phase.injected,
        expected="rerun exits 0; every source row once; every row in a completed load",
        faults=1,
        survived=int(killed and rerun.returncode == 0 and lost == dups == orphans == 0),
        rows_lost=lost,
        duplicates=dups,
        notes=f"killed on attempt {attempts}; at the kill: {at_kill}"
        + (f"; rerun: {_first_failure(rerun.stderr)}" if rerun.returncode else ""),
    )
    assert killed, f"could not kill the run during {phase.name} in {attempts} attempts"
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for model, (count, distinct, total) in counts.items():
        source_count, source_sum = truth[model]
        assert (count, distinct, total) == (source_count, source_count, source_sum), model
    assert orphans == 0, "rows whose load never completed"
    assert left == ([], []), "packages left pending after the rerun"


# -- documents ------------------------------------------------------------------------------
CLOUD = """\
kind: rest
target: documents
client:
  base_url: {url}
  auth: {{type: bearer, token: "${{CLOUD_TOKEN}}"}}
  paginator: {{type: json_link, next_url_path: nextLink}}
defaults:
  write_disposition: merge
  primary_key: id
  endpoint:
    params: {{page_size: 100}}
    data_selector: value
models:
  subscriptions: {{endpoint: {{path: /cloud/subscriptions}}}}
  virtual_networks: {{endpoint: {{path: /cloud/virtual_networks}}}}
  vms: {{endpoint: {{path: /cloud/vms}}}}
  costs: {{endpoint: {{path: /cloud/costs}}}}
"""


@pytest.fixture
def cloud_api(manifests_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoApi]:
    with serve_demo_api(rate_per_second=None, latency_s=0.1) as api:
        monkeypatch.setenv("CLOUD_TOKEN", api.token)
        write_manifest(manifests_dir, "cloud", CLOUD.format(url=api.base_url))
        yield api
    mongo.stop_embedded()


def _costs_requests(api: DemoApi) -> int:
    return sum(1 for _, _, path in api.stats() if path.startswith("/cloud/costs"))


def test_sigkill_mid_document_load_then_rerun_is_exact(
    cloud_api: DemoApi, reliability: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill ``kspyder documents load cloud`` in the middle of ``costs`` (36 pages), rerun.

    On the embedded default: the killed run's SecantusDB server dies with it (watchdog),
    and the next use finds its stale record and starts a new one on the same files."""
    monkeypatch.delenv("MONGODB_URI")
    proc = subprocess.Popen(
        cli("documents", "load", "cloud"),
        cwd=project.ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed = kill_when(
        proc,
        lambda: _costs_requests(cloud_api) >= 10,
        lambda: _costs_requests(cloud_api) < 36,
        poll_s=0.01,
    )
    before = mongo.collection_counts("cloud")
    cloud_api.latency_s = 0.0
    rerun = run_cli("documents", "load", "cloud")
    from demo import cloud

    expected = {
        "subscriptions": cloud.subscriptions(),
        "virtual_networks": cloud.virtual_networks(),
        "vms": cloud.vms(),
        "costs": cloud.costs(),
    }
    lost = dups = 0
    for name, docs in expected.items():
        stored = mongo.find("cloud", name)
        ids = [d["_id"] for d in stored]
        dups += len(ids) - len(set(ids))
        lost += len({d["id"] for d in docs} - set(ids))
    whole = mongo.read_document("cloud", "vms", expected["vms"][0]["id"])
    reliability.record(
        case="SIGKILL mid MongoDB document load, then rerun",
        injected="SIGKILL after 10 of 36 pages of costs (embedded SecantusDB server)",
        expected="rerun exits 0; every document once, whole",
        survived=int(killed and rerun.returncode == 0 and lost == dups == 0),
        rows_lost=lost,
        duplicates=dups,
        notes=f"collections at the kill: {before}",
    )
    assert killed, "the load ended before it could be killed"
    assert "costs" not in before or before["costs"] < len(expected["costs"])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert mongo.collection_counts("cloud") == {n: len(d) for n, d in expected.items()}
    assert lost == dups == 0
    assert whole == {"_id": expected["vms"][0]["id"], **expected["vms"][0]}
