"""Trust boundaries (2): Prefect's states tell the truth, pseudonyms stay stable, and a
newcomer's first commands work.

Real Prefect (one ``prefect_test_harness`` for the module), PostgreSQL and DuckDB, dbt-generated
SQL run on the warehouse, servers on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from extract.load import extract_source
from extract.warehouse import resolve
from tests.reliability.helpers import source_from
from tests.reliability.trust_helpers import (
    HASHED_SOURCE,
    SQLITE_SOURCE,
    customers,
    sqlite_table,
)


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    """One temporary Prefect API for the module (its start-up is the slow part)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _last_flow_run() -> tuple[Any, list[Any]]:
    """The newest flow run and its task runs, read back through Prefect's API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    return run, tasks


REQUIRED_PARAM = """\
description: needs a parameter nobody gives
database: nowhere
collection: things
params:
  team: {type: string}
stages:
  - $match: {team: "{{ team }}"}
"""


@pytest.mark.postgres
def test_a_failed_run_is_a_failed_prefect_state_after_its_summary(
    harness: None,
    tmp_path: Path,
    manifests_dir: Path,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    from flows.cli.run import run_elt
    from tests.helpers import query

    db = sqlite_table(tmp_path)
    text = SQLITE_SOURCE.format(db=db) + "  ghosts: {table: no_such_table}\n"
    source_from(manifests_dir, "small", text)
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "needs_team.yml").write_text(REQUIRED_PARAM)
    monkeypatch.setenv("KSPYDER_MONGO_PIPELINES", str(pipelines))
    password = "flow/pw@9d1e-secret"
    url = pg_database.replace("postgres@", f"postgres:{password}@")
    summary = run_elt(None, skip_transform=True, retries=0, warehouse_url=url)
    run, tasks = _last_flow_run()
    states = {t.name: t.state_type.value for t in tasks}
    ledger = query(
        pg_database, "select model, status from kspyder_meta._kspyder_runs order by model"
    )
    in_params = int(password in str(run.parameters) or "9d1e" in str(run.parameters))
    reliability.record(
        case="failed model and aggregation: Prefect state",
        injected="a model on a missing table, an aggregation missing its required parameter",
        expected="flow run FAILED (and the failed tasks), summary artifact and ledger first; "
        "no warehouse password in the flow run's parameters",
        survived=int(run.state_type.value == "FAILED" and len(ledger) == 2),
        secrets_leaked=in_params,
    )
    assert run.state_type.value == "FAILED", run.state
    assert sorted(ledger) == [("ghosts", "failed"), ("t", "ok")]
    assert [f.split(":")[0] for f in summary["failures"]] == [
        "extract small.ghosts",
        "aggregate needs_team",
    ]
    failed_tasks = sorted(name for name, state in states.items() if state == "FAILED")
    assert [n.split("-")[:2] for n in failed_tasks] == [
        ["aggregate", "needs_team"],
        ["extract", "small"],  # the extract unit of ghosts (task names get a short suffix)
    ], states
    assert "ghosts" in failed_tasks[1]
    assert [s for n, s in states.items() if n.startswith("summary")] == ["COMPLETED"]
    assert not in_params, run.parameters


def test_run_one_source_narrows_dbt_and_aggregations(
    harness: None, tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    """A newcomer's own source, run alone against the committed dbt project and pipelines."""
    from flows.cli.run import run_elt

    source_from(manifests_dir, "small", SQLITE_SOURCE.format(db=sqlite_table(tmp_path)))
    summary = run_elt(None, sources=["small"], retries=0)
    run, _ = _last_flow_run()
    reliability.record(
        case="`kspyder run SOURCE` without the demo's sources loaded",
        injected="a new SQL source alone; the demo's raw tables absent",
        expected="dbt narrowed to source:small+, no aggregation over other databases; COMPLETED",
        survived=int(run.state_type.value == "COMPLETED"),
    )
    assert summary["failures"] == [], summary["failures"]
    assert summary["aggregates"] == []
    assert run.state_type.value == "COMPLETED"


@pytest.mark.postgres
def test_another_hmac_key_is_refused_until_rotate_key_rehashes(
    tmp_path: Path,
    manifests_dir: Path,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    from typer.testing import CliRunner

    from extract.pii import pseudonym
    from extract.pii_key import KeyMismatch, fingerprint, stored_fingerprint
    from flows.cli import build_app
    from tests.helpers import query

    old_key, new_key = "first-key-2f9a61c0d4", "second-key-8c3e17b5a2"
    source = source_from(manifests_dir, "crm", HASHED_SOURCE.format(db=customers(tmp_path)))
    warehouse = resolve(pg_database)
    monkeypatch.setenv("KSPYDER_HMAC_KEY", old_key)
    (first,) = extract_source(source, warehouse)
    assert first.status == "ok"
    assert stored_fingerprint(warehouse) == fingerprint(old_key.encode())
    monkeypatch.setenv("KSPYDER_HMAC_KEY", new_key)  # the key file lost, a new one made
    with pytest.raises(KeyMismatch) as refused:
        extract_source(source, warehouse, full_refresh=False)
    sql = "select email from crm.customers order by id"
    hashes = [r[0] for r in query(pg_database, sql)]
    mixed = sum(
        h != pseudonym(f"user{i}@example.com", old_key.encode()) for i, h in enumerate(hashes)
    )
    result = CliRunner().invoke(build_app(), ["pii", "rotate-key", "--warehouse", pg_database])
    rehashed = [r[0] for r in query(pg_database, sql)]
    matches = sum(
        h == pseudonym(f"user{i}@example.com", new_key.encode()) for i, h in enumerate(rehashed)
    )
    reliability.record(
        case="HMAC key changed between runs",
        injected="KSPYDER_HMAC_KEY replaced after a first load of a hashed column",
        expected="the load is refused naming restore / `kspyder pii rotate-key`; rotate-key "
        "re-hashes every row and records the new fingerprint",
        survived=int(mixed == 0 and matches == len(rehashed) == 40),
        notes=f"{matches} of {len(rehashed)} rows re-hashed with the new key",
    )
    assert "kspyder pii rotate-key" in str(refused.value)
    assert "Restore that key" in str(refused.value)
    assert old_key not in str(refused.value)
    assert new_key not in str(refused.value)
    assert mixed == 0, "rows were hashed with two keys"
    assert result.exit_code == 0, result.output
    assert matches == len(rehashed) == 40
    assert stored_fingerprint(warehouse) == fingerprint(new_key.encode())
    (again,) = extract_source(source, warehouse)
    assert again.status == "ok"


def test_demo_key_lives_in_the_user_config_folder_with_mode_0600(
    tmp_path: Path, kspyder_home: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    import os
    import stat

    from demo.local import ensure_hmac_key
    from extract.pii import HMAC_KEY_FILE_ENV, hmac_key

    monkeypatch.delenv("KSPYDER_HMAC_KEY")
    monkeypatch.delenv(HMAC_KEY_FILE_ENV, raising=False)
    (kspyder_home / "hmac.key").write_text("legacy-demo-key-77aa")  # where it used to be
    os.umask(0o000)  # a chmod after writing would leave a window with 0666
    try:
        ensure_hmac_key()
    finally:
        os.umask(0o022)
    path = Path(os.environ[HMAC_KEY_FILE_ENV])
    mode = stat.S_IMODE(path.stat().st_mode)
    reliability.record(
        case="where the demo HMAC key lives",
        injected="`kspyder demo`, no key configured, a key left in .kspyder/ by an older version",
        expected="moved to $XDG_CONFIG_HOME/kspyder/hmac.key, created 0600 with O_EXCL",
        survived=int(mode == 0o600 and kspyder_home not in path.parents),
    )
    assert path == tmp_path / "config" / "kspyder" / "hmac.key"
    assert mode == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert hmac_key() == b"legacy-demo-key-77aa"  # pseudonyms stay stable
    assert not (kspyder_home / "hmac.key").exists()
    monkeypatch.delenv(HMAC_KEY_FILE_ENV)
    ensure_hmac_key()  # the second time keeps the file
    assert path.read_text() == "legacy-demo-key-77aa"


def test_validate_on_a_fresh_clone_passes_without_runtime_secrets(
    monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    from typer.testing import CliRunner

    from extract import project
    from flows.cli import build_app

    monkeypatch.setenv("KSPYDER_MANIFESTS", str(project.ROOT / "manifests"))
    for name in ("CRM_API_TOKEN", "CRM_API_URL", "ERP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    plain = CliRunner().invoke(build_app(), ["validate"])
    strict = CliRunner().invoke(build_app(), ["validate", "--strict"])
    reliability.record(
        case="`kspyder validate` on a fresh clone",
        injected="the committed manifests, no runtime secret set (CRM_API_TOKEN unset)",
        expected="exit 0, the unset variables listed as what a run needs; --strict: exit 2",
        survived=int(plain.exit_code == 0 and strict.exit_code == 2),
    )
    assert plain.exit_code == 0, plain.output
    assert "manifest(s) valid" in plain.output
    assert "a run will need" in plain.output
    assert "CRM_API_TOKEN is not set" in plain.output
    assert strict.exit_code == 2


def test_a_busy_source_ends_in_one_line_naming_the_holder(
    harness: None,
    tmp_path: Path,
    manifests_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    reliability: Any,
) -> None:
    import subprocess
    import sys

    from extract import project
    from flows.cli.run import run_elt
    from tests.reliability.helpers import run_cli

    source_from(manifests_dir, "small", SQLITE_SOURCE.format(db=sqlite_table(tmp_path)))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from extract.locks import source_lock\n"
         "with source_lock('small'):\n    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=project.ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("KSPYDER_LOCK_WAIT", "1")
        cli = run_cli("extract", "small", KSPYDER_LOCK_WAIT="1")
        capfd.readouterr()
        summary = run_elt(None, sources=["small"], retries=2)
        flow_output = capfd.readouterr()
        run, tasks = _last_flow_run()
    finally:
        holder.kill()
        holder.wait()
    named = f"being loaded by pid {holder.pid}"
    tracebacks = cli.stderr.count("Traceback") + flow_output.err.count("Traceback")
    unit_runs = [t for t in tasks if t.name.startswith("extract-small-")]
    reliability.record(
        case="a source busy with another run",
        injected="another process holds the source's lock (KSPYDER_LOCK_WAIT=1)",
        expected="`kspyder extract` and the flow end in one line naming the holder's pid; "
        "no traceback, no retry of the wait; the flow run FAILED",
        survived=int(tracebacks == 0 and named in cli.stderr),
    )
    assert cli.returncode == 1, cli.stderr
    assert named in cli.stderr, cli.stderr
    assert tracebacks == 0, cli.stderr + flow_output.err
    assert named in summary["failures"][0]
    assert run.state_type.value == "FAILED"
    assert [t.run_count for t in unit_runs] == [1]  # waiting again would not help


def test_dbt_generate_stages_rest_child_tables_with_join_keys(
    httpserver: HTTPServer, manifests_dir: Path, tmp_path: Path, reliability: Any
) -> None:
    import re

    import duckdb

    from extract import project
    from transform.dbt.generate import generate, staging_dir

    tickets = [
        {"id": i, "title": f"t{i}", "tags": [f"tag{j}" for j in range(i % 3)]} for i in range(9)
    ]
    httpserver.expect_request("/tickets").respond_with_json({"data": tickets})
    text = (
        f"kind: rest\nclient: {{base_url: '{httpserver.url_for('/')}', paginator: single_page}}\n"
        "models:\n  tickets: {primary_key: id, endpoint: {path: /tickets, data_selector: data}}\n"
    )
    source = source_from(manifests_dir, "helpdesk", text)
    (result,) = extract_source(source, resolve())
    assert result.status == "ok", result.error
    generate({"helpdesk": source}, resolve(), project_dir=tmp_path)
    folder = staging_dir("helpdesk", tmp_path)
    child = folder / "stg_helpdesk__tickets__tags.sql"
    compiled = {
        name: re.sub(r"\{\{ source\('helpdesk', '(\w+)'\) \}\}", r"helpdesk.\1", path.read_text())
        for name, path in (
            ("tickets", folder / "stg_helpdesk__tickets.sql"),
            ("tickets__tags", child),
        )
        if path.exists()
    }
    joined = None
    if child.exists():
        con = duckdb.connect(str(project.duckdb_path()), read_only=True)
        try:
            joined = con.execute(
                f"with t as ({_body(compiled['tickets'])}), "
                f"g as ({_body(compiled['tickets__tags'])}) "
                "select count(*) from g join t using (ticket_row_id)"
            ).fetchone()[0]
        finally:
            con.close()
    expected = sum(len(t["tags"]) for t in tickets)
    reliability.record(
        case="`kspyder dbt generate` and REST child tables",
        injected="a REST model whose records hold a list (dlt child table tickets__tags)",
        expected="a staging model per child table; parent and child join on <entity>_row_id",
        survived=int(joined == expected),
        notes=f"{joined} of {expected} tags joined to their ticket",
    )
    assert child.exists(), sorted(p.name for p in folder.iterdir())
    assert "ticket_row_id" in compiled["tickets__tags"]
    assert "tag_row_id" in compiled["tickets__tags"]
    assert "cast(_dlt_id as varchar) as ticket_row_id" in compiled["tickets"]
    assert "tickets__tags" in (folder / "_helpdesk__sources.yml").read_text()
    assert joined == expected


def _body(sql: str) -> str:
    """A generated staging model without its header comments."""
    return "\n".join(line for line in sql.splitlines() if not line.startswith("--"))


def test_concurrent_first_loads_record_one_fingerprint(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    """Sources run concurrently (the elt flow): the first hashed loads race to record it."""
    from concurrent.futures import ThreadPoolExecutor

    from extract.pii_key import check_key, stored_fingerprint

    db = customers(tmp_path)
    sources = [source_from(manifests_dir, f"crm{i}", HASHED_SOURCE.format(db=db)) for i in range(6)]
    failed: list[BaseException] = []
    for round_ in range(10):  # a fresh warehouse each round: the race is on its creation
        warehouse = resolve(f"duckdb:///{tmp_path / f'wh{round_}.duckdb'}")
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(check_key, s, ["customers"], warehouse) for s in sources]
            failed += [e for e in (f.exception() for f in futures) if e is not None]
    reliability.record(
        case="six sources with hashed columns start at once (DuckDB)",
        injected="six threads record the key fingerprint of a fresh warehouse together, 10 times",
        expected="one fingerprint, no write-write conflict on kspyder_meta",
        faults=60,
        survived=60 - len(failed),
    )
    assert failed == [], failed
    assert stored_fingerprint(warehouse) is not None
