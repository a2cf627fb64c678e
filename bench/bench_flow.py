"""Whole demo (case 6) and transform (case 5) benchmarks.

Case 6: the full demo through Prefect (``kspyder demo``: temporary API server, flow, tasks,
artifact) against the same stage functions called directly in one process; the difference
is the orchestration overhead. Each run starts from an empty ``KSPYDER_HOME`` holding only
the demo ERP database (built once), so both do the same full load.

Case 5: ``kspyder transform`` against plain ``dbt build`` on the same loaded warehouse.

    python -m bench.bench_flow --case demo --repeats 3
    python -m bench.bench_flow --case transform --repeats 3
    python -m bench.bench_flow --direct HOME      # internal: one direct run in HOME
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import BIN, ROOT, Contender, run_alternating


def direct_run() -> None:
    """The demo's stages called in order, without Prefect (same work as the elt flow)."""
    from demo.local import demo_sources
    from flows import stages

    with demo_sources():
        for name in stages.source_names():
            results = stages.extract_stage(name)
            assert all(r["status"] == "ok" for r in results), results
        result = stages.transform_stage()
        assert result["status"] == "ok", result
        for name, params in stages.pipeline_params(stages.pipeline_names(), {}).items():
            done = stages.aggregate_stage(name, params)
            assert done["status"] == "ok", done
        report = stages.report_stage()
        assert report["status"] == "ok", report


def _prepared_home(base: Path) -> Path:
    """A KSPYDER_HOME template with the demo ERP database built once."""
    template = base / "template"
    env = {**os.environ, "KSPYDER_HOME": str(template)}
    code = (
        "from extract import project; project.export_env(); "
        "from demo.local import ensure_erp; ensure_erp()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return template


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port (its own PREFECT_HOME); its API URL."""
    from bench.prefect_worker_check import _free_port, _wait_health

    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    cmd = [f"{BIN}/prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_health(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def case_demo(repeats: int) -> list[Contender]:
    """kspyder demo (temporary API server, or a running server) vs direct stage calls.

    Every run starts from the same fresh KSPYDER_HOME; Prefect's local database persists
    between runs, as it does in .kspyder/prefect.
    """
    base = Path(tempfile.mkdtemp(prefix="kbench_flow_"))
    template = _prepared_home(base)
    home = base / "run"
    reset = f"rm -rf {home} && cp -r {template} {home}"
    env = {"KSPYDER_HOME": str(home), "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(base / "p")}
    with prefect_server(base / "server") as api_url:
        contenders = [
            Contender("prefect_flow", f"{BIN}/kspyder demo", setup=reset, env=env),
            Contender(
                "prefect_running_server",
                f"{BIN}/kspyder demo",
                setup=reset,
                env={**env, "PREFECT_API_URL": api_url},
            ),
            Contender(
                "direct_stages",
                f"{sys.executable} -m bench.bench_flow --direct",
                setup=reset,
                env=env,
            ),
        ]
        run_alternating(contenders, repeats)
    shutil.rmtree(base, ignore_errors=True)
    return contenders


def case_transform(repeats: int) -> list[Contender]:
    """kspyder transform vs plain dbt build, on a warehouse the demo loaded once."""
    base = Path(tempfile.mkdtemp(prefix="kbench_dbt_"))
    env = {**os.environ, "KSPYDER_HOME": str(base), "PYTHONPATH": str(ROOT)}
    subprocess.run([f"{BIN}/kspyder", "demo"], check=True, env=env, cwd=ROOT, capture_output=True)
    run_env = {"KSPYDER_HOME": str(base), "KSPYDER_DUCKDB_PATH": str(base / "warehouse.duckdb")}
    contenders = [
        Contender("kspyder_transform", f"{BIN}/kspyder transform", env=run_env),
        Contender(
            "dbt_build",
            f"cd {ROOT / 'dbt_project'} && {BIN}/dbt build --quiet",
            env=run_env,
        ),
    ]
    run_alternating(contenders, repeats)
    shutil.rmtree(base, ignore_errors=True)
    return contenders


def summarize(contenders: list[Contender]) -> list[dict[str, Any]]:
    """Median wall time and peak RSS per contender."""
    return [
        {
            "contender": c.name,
            "median_s": round(c.median(), 2),
            "peak_rss_mb": round(c.peak_mb()),
            "runs": [round(s.wall_s, 2) for s in c.samples],
            "ok": all(s.ok for s in c.samples),
        }
        for c in contenders
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run one case; print and return JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", choices=["demo", "transform"], default="demo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--direct", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.direct:
        from extract import project
        from flows.cli import exit_fast

        project.export_env()
        direct_run()
        exit_fast(0)  # as the kspyder CLI exits: the comparison is of the orchestration only
    chosen = case_demo(args.repeats) if args.case == "demo" else case_transform(args.repeats)
    result = {"case": args.case, "results": summarize(chosen)}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
