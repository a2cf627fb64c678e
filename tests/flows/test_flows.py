"""Prefect flows for real (prefect_test_harness): the ELT flow, failures, locks, SIGKILL."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from extract import project
from tests.helpers import query, write_manifest
from tests.helpers.erp import ERP_MANIFEST, erp_source


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    """One temporary Prefect API for the whole module (its start-up is the slow part)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_every_flow_and_deployment_entrypoint_imports() -> None:
    spec = yaml.safe_load((project.ROOT / "prefect.yaml").read_text())
    assert spec["deployments"], "prefect.yaml has no deployments"
    for deployment in spec["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert hasattr(getattr(module, name), "fn"), f"{name} is not a Prefect flow"
    for module in ("flows.cli", "flows.cli.run", "flows.elt", "flows.deployments"):
        importlib.import_module(module)


def test_prefect_yaml_is_generated_from_manifests(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.deployments import prefect_yaml

    monkeypatch.setenv("KSPYDER_MANIFESTS", str(project.ROOT / "manifests"))
    assert (project.ROOT / "prefect.yaml").read_text() == prefect_yaml(), (
        "run `kspyder deployments generate`"
    )


def test_elt_flow_loads_and_records_summary(
    harness: None, tmp_path: Path, manifests_dir: Path
) -> None:
    from flows.elt import elt

    erp_source(tmp_path, manifests_dir)
    summary = elt(skip_transform=True, skip_aggregate=True)
    rows = {m["model"]: m["rows"] for m in summary["models"]}
    assert rows == {"customers": 300, "orders": 2000, "events": rows["events"]}
    assert rows["events"] > 0
    assert summary["failures"] == []
    ledger = query(
        str(project.duckdb_path()),
        "select model, status, rows_loaded from kspyder_meta._kspyder_runs order by model",
    )
    assert ("orders", "ok", 2000) in ledger
    assert len(ledger) == 3


def test_failing_model_fails_the_run_and_keeps_the_rest(
    harness: None, tmp_path: Path, manifests_dir: Path
) -> None:
    from flows.elt import RunFailed, elt

    db = erp_source(tmp_path, manifests_dir)
    text = (
        ERP_MANIFEST.format(db=db, chunk=500)
        + "  ghosts:\n    table: no_such_table\n    write_disposition: append\n"
    )
    write_manifest(manifests_dir, "erp", text)
    with pytest.raises(RunFailed) as failed:  # the flow run ends Failed, after its summary
        elt(skip_transform=True, skip_aggregate=True, retries=0)
    summary = failed.value.summary
    status = {m["model"]: m["status"] for m in summary["models"]}
    assert status["ghosts"] == "failed"
    assert status["orders"] == "ok"
    assert summary["failures"][0].startswith("extract erp.ghosts")
    count = query(str(project.duckdb_path()), "select count(*) from erp.orders")
    assert count == [(2000,)]


def test_a_unit_retried_by_prefect_counts_its_retry(
    harness: None, manifests_dir: Path, httpserver: Any
) -> None:
    """A 400 (not retried at the HTTP level) fails attempt 1; Prefect's retry loads it and
    the summary and ledger count that retry."""
    from flows.elt import elt

    httpserver.expect_oneshot_request("/items").respond_with_json({"error": "busy"}, status=400)
    httpserver.expect_request("/items").respond_with_json({"data": [{"id": 1}, {"id": 2}]})
    write_manifest(
        manifests_dir,
        "api",
        f'kind: rest\nclient: {{base_url: "{httpserver.url_for("/")}", paginator: single_page}}\n'
        "models:\n  items: {primary_key: id, endpoint: {path: /items, data_selector: data}}\n",
    )
    summary = elt(skip_transform=True, skip_aggregate=True, retries=1)
    (model,) = summary["models"]
    assert (model["status"], model["rows"], model["retries"]) == ("ok", 2, 1)
    ledger = query(str(project.duckdb_path()), "select retries from kspyder_meta._kspyder_runs")
    assert ledger == [(1,)]


def test_cli_run_exit_code_names_failing_stage(tmp_path: Path, manifests_dir: Path) -> None:
    db = erp_source(tmp_path, manifests_dir)
    text = (
        ERP_MANIFEST.format(db=db, chunk=500)
        + "  ghosts:\n    table: no_such_table\n    write_disposition: append\n"
    )
    write_manifest(manifests_dir, "erp", text)
    env = {**os.environ, "KSPYDER_LOCK_WAIT": "5"}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "extract", "erp"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project.ROOT,
    )
    assert done.returncode == 1
    assert "failed extract erp.ghosts" in done.stderr
    assert "no_such_table" in done.stderr


def test_second_run_on_a_locked_source_fails_clearly(
    tmp_path: Path, manifests_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extract.load import extract_source
    from extract.locks import SourceBusy, source_lock
    from extract.manifest.loader import load_manifests
    from extract.warehouse import resolve

    erp_source(tmp_path, manifests_dir)
    source = load_manifests(only=["erp"])["erp"]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from extract.locks import source_lock\n"
            "with source_lock('erp'):\n    print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=project.ROOT,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("KSPYDER_LOCK_WAIT", "1")
        with pytest.raises(SourceBusy, match="source 'erp' is being loaded by pid"):
            extract_source(source, resolve())
    finally:
        holder.kill()
        holder.wait()
    with source_lock("erp", wait_s=5):  # released by the OS when the holder died
        pass
    assert all(r.status == "ok" for r in extract_source(source, resolve()))


@pytest.mark.slow
def test_sigkill_mid_extract_then_rerun_has_no_duplicate_or_missing_row(
    tmp_path: Path, manifests_dir: Path
) -> None:
    """Kill `kspyder extract` while it loads, rerun: exact row counts, unique keys."""
    erp_source(tmp_path, manifests_dir, orders=200_000, chunk=5_000)
    cmd = [sys.executable, "-m", "flows.cli", "extract", "erp"]
    proc = subprocess.Popen(
        cmd, cwd=project.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pipeline_dir = project.pipelines_dir() / "kspyder_erp"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (pipeline_dir / "load").exists():
        time.sleep(0.05)
    time.sleep(1.5)  # well inside extract/normalize/load of the 200k orders
    assert proc.poll() is None, "the first run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd, cwd=project.ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    wh = str(project.duckdb_path())
    assert query(wh, "select count(*), count(distinct order_id) from erp.orders") == [
        (200_000, 200_000)
    ]
    assert query(wh, "select count(*), count(distinct customer_id) from erp.customers") == [
        (300, 300)
    ]
    orphans = query(
        wh,
        "select count(*) from erp.events e left join erp._dlt_loads l "
        "on e._dlt_load_id = l.load_id where l.load_id is null or l.status <> 0",
    )
    assert orphans == [(0,)]
