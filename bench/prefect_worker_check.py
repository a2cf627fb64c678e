"""Scripted check: a local Prefect server, a process worker, the deployment run through them.

    .venv/bin/python -m bench.prefect_worker_check [--keep]

1. starts the demo sources (ERP SQLite, demo API) in this process, with a temporary
   KSPYDER_HOME;
2. starts ``prefect server start`` on a free loopback port (its own PREFECT_HOME);
3. creates the ``kspyder`` process work pool and registers ``prefect.yaml``'s deployments
   (``prefect --no-prompt deploy --all``, pull step: ``KSPYDER_ROOT`` = this repo);
4. starts ``prefect worker start --pool kspyder`` and runs ``elt/elt-daily`` through it,
   waiting for the final state;
5. also times ``kspyder run`` against the running server (orchestration overhead without
   the temporary API server) and prints JSON.
Exit code 0 when the flow run through the worker completed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from flows.prefect_server import _free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _wait_health(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"Prefect server at {url} did not become healthy")


def _prefect(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _flow_run_state(env: dict[str, str], run_id: str) -> str:
    code = (
        "import asyncio, sys\n"
        "from prefect.client.orchestration import get_client\n"
        "async def main():\n"
        "    async with get_client() as c:\n"
        f"        r = await c.read_flow_run('{run_id}')\n"
        "        print(r.state.type.value)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "UNKNOWN"


def main() -> int:
    """Run the check; print a JSON report; 0 when the worker completed the flow run."""
    sys.path.insert(0, str(ROOT))
    from demo.local import demo_sources

    report: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="kspyder_worker_check_"))
    os.environ["KSPYDER_HOME"] = str(work / "home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    base_env = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "KSPYDER_ROOT": str(ROOT),
    }
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=base_env,
        stdout=open(work / "server.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        _wait_health(api)
        report["server_start_s"] = round(time.perf_counter() - started, 1)
        with demo_sources():
            ours = {k: v for k, v in os.environ.items() if k.startswith(("KSPYDER", "CRM"))}
            env = {**base_env, **ours}
            _prefect(["work-pool", "create", "kspyder", "--type", "process"], env)
            _prefect(["--no-prompt", "deploy", "--all"], env)
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", "kspyder"],
                env=env,
                cwd=ROOT,
                stdout=open(work / "worker.log", "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            out = _prefect(["deployment", "run", "elt/elt-daily"], env)
            run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
            deadline = time.monotonic() + 900
            state = "SCHEDULED"
            while time.monotonic() < deadline:
                state = _flow_run_state(env, run_id)
                if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                time.sleep(3)
            report["worker_flow_run"] = {"id": run_id, "state": state}
            started = time.perf_counter()
            done = subprocess.run(
                [str(BIN / "kspyder"), "run"], env=env, cwd=ROOT, capture_output=True, text=True
            )
            report["kspyder_run_with_server_s"] = round(time.perf_counter() - started, 1)
            report["kspyder_run_exit"] = done.returncode
    finally:
        for proc in (worker, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    report["logs"] = str(work)
    print(json.dumps(report, indent=2))
    return 0 if report.get("worker_flow_run", {}).get("state") == "COMPLETED" else 1


if __name__ == "__main__":
    raise SystemExit(main())
