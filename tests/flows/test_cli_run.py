"""``kspyder run`` as users run it: its own temporary Prefect server, summary, exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from extract import project
from tests.helpers import query, write_manifest
from tests.helpers.erp import GHOSTS, erp_source

SERVER_APP = b"prefect.server.api.server:create_app"


def _servers_for(prefect_home: Path) -> list[int]:
    """Pids of live Prefect API server processes started with this PREFECT_HOME."""
    marker = f"PREFECT_HOME={prefect_home}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if SERVER_APP in (proc / "cmdline").read_bytes() and marker in (
                proc / "environ"
            ).read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return pids


def test_run_starts_one_server_reports_and_names_the_failing_stage(
    tmp_path: Path, manifests_dir: Path
) -> None:
    erp_source(tmp_path, manifests_dir, orders=500)
    write_manifest(manifests_dir, "erp", (manifests_dir / "erp.yml").read_text() + GHOSTS)
    prefect_home = tmp_path / "prefect"
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--no-transform", "--no-aggregate"]
        + ["--retries", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project.ROOT,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "failed stage: extract erp.ghosts" in done.stdout + done.stderr
    # the summary table names every model; the others loaded
    for model in ("customers", "orders", "events", "ghosts"):
        assert model in done.stdout
    assert query(str(project.duckdb_path()), "select count(*) from erp.orders") == [(500,)]
    ledger = query(
        str(project.duckdb_path()),
        "select model, status from kspyder_meta._kspyder_runs order by model",
    )
    assert ("ghosts", "failed") in ledger
    assert ("orders", "ok") in ledger
    # one temporary server, started by kspyder (its log is kept), gone with the command
    assert (prefect_home / "temporary-server.log").exists()
    assert _servers_for(prefect_home) == []
    assert "Starting temporary server" not in done.stderr  # Prefect did not start another
    assert "Error logging to API" not in done.stderr  # logs were sent before it stopped
    assert "View at http://127.0.0.1" not in done.stderr  # no link to a server now gone
