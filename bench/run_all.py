"""Run every benchmark and write ``docs/benchmarks.md``.

    python -m bench.run_all              # full mode (by hand): 1M/3M/10M rows, 1,000 REST pages
    python -m bench.run_all --quick      # smoke mode (the test suite): tiny sizes, 1 run each
    python -m bench.run_all --only pg,duckdb --out /tmp/b.md

Results of each case are also kept as JSON in ``bench/out/`` so the report can be rebuilt
from partial runs (``--from-json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import report
from bench.common import ROOT, machine

OUT = ROOT / "bench" / "out"


def _run_case(name: str, argv: list[str], quick: bool) -> dict[str, Any]:
    print(f"== {name}: {' '.join(argv)}", flush=True)
    if name == "rest":
        cmd = [sys.executable, str(ROOT / "bench" / "bench_rest.py"), "--json", *argv]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"bench_rest failed: {done.stderr[-2000:]}")
        text = done.stdout
        return {"case": "rest", "results": json.loads(text[text.index("{") :])}
    module = "bench.bench_flow" if name in ("demo", "transform") else "bench.bench_sql"
    done = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, cwd=ROOT
    )
    sys.stdout.write(done.stdout[: done.stdout.find("{")] if "{" in done.stdout else "")
    if done.returncode != 0:
        raise RuntimeError(f"{module} {argv} failed: {done.stderr[-3000:]}")
    text = done.stdout
    result: dict[str, Any] = json.loads(text[text.index('{\n  "case"') :])
    return result


def plan(quick: bool) -> dict[str, list[str]]:
    """Arguments of each case, by mode."""
    if quick:
        return {
            "pg": [
                "--case",
                "pg",
                "--rows",
                "20000",
                "--repeats",
                "1",
                "--contenders",
                "copy_pipe,kspyder,pandas,dlt_stock,dlt_tuned",
            ],
            "duckdb": ["--case", "duckdb", "--rows", "20000", "--repeats", "1"]
            + ["--contenders", "arrow_direct,kspyder"],
            "scale": ["--case", "scale", "--sizes", "10000,30000", "--repeats", "1"]
            + ["--contenders", "copy_pipe,kspyder"],
            "rest": ["--pages", "20", "--latency", "0.02", "--rate", "50", "--repeats", "1"],
        }
    return {
        "pg": ["--case", "pg", "--rows", "1000000", "--repeats", "3"],
        "duckdb": ["--case", "duckdb", "--rows", "1000000", "--repeats", "3"],
        "scale": ["--case", "scale", "--sizes", "1000000,3000000,10000000", "--repeats", "3"],
        "rest": [],
        "transform": ["--case", "transform", "--repeats", "3"],
        "demo": ["--case", "demo", "--repeats", "3"],
    }


def main(argv: list[str] | None = None) -> Path:
    """Run the cases and write the report; returns its path."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json-dir", type=Path, default=OUT)
    parser.add_argument("--from-json", action="store_true", help="only rebuild the report")
    parser.add_argument(
        "--conditions", default="", help="how the machine was during the run (printed on top)"
    )
    args = parser.parse_args(argv)
    args.json_dir.mkdir(parents=True, exist_ok=True)
    cases = plan(args.quick)
    wanted = [c for c in cases if not args.only or c in args.only.split(",")]
    results: dict[str, Any] = {}
    for name in cases:
        path = args.json_dir / f"{name}{'_quick' if args.quick else ''}.json"
        if name in wanted and not args.from_json:
            results[name] = _run_case(name, cases[name], args.quick)
            path.write_text(json.dumps(results[name], indent=2))
        elif path.exists():
            results[name] = json.loads(path.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.render(results, machine(), args.quick, args.conditions))
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
