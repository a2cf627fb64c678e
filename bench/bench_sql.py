"""SQL benchmarks: PostgreSQL table -> PostgreSQL warehouse (case 1), -> DuckDB (case 2),
and scale (case 3).

    python -m bench.bench_sql --case pg --rows 1000000 --repeats 3
    python -m bench.bench_sql --case duckdb --rows 1000000
    python -m bench.bench_sql --case scale --sizes 1000000,3000000,10000000

Contenders run alternately in fresh processes; wall time and peak RSS are measured per run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import BIN, ROOT, Contender, run_alternating

PSQL = "psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -q"
# one pair of databases per checkout: benchmarks of two checkouts on one server never collide
_SUFFIX = os.environ.get("BENCH_DB_SUFFIX") or hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]
SRC_DB = f"kspyder_bench_src_{_SUFFIX}"
WH_DB = f"kspyder_bench_wh_{_SUFFIX}"
SRC_URL = f"postgresql://postgres@127.0.0.1:5432/{SRC_DB}"
WH_URL = f"postgresql://postgres@127.0.0.1:5432/{WH_DB}"
COLUMNS = (
    "id bigint, customer_id int, amount numeric(12,2), price double precision, qty int, "
    "status text, note text, created_at timestamptz, updated_at timestamp, flag bool"
)


def psql(db: str, sql: str) -> None:
    """Run SQL with psql against a local database."""
    subprocess.run(f'{PSQL} -d {db} -c "{sql}"', shell=True, check=True, capture_output=True)


def make_source(rows: int, table: str = "bench_rows") -> None:
    """(Re)create the source and warehouse databases and a ``rows``-row, 10-column table
    (``COLUMNS``; ``amount`` is a declared numeric(12, 2): an unconstrained ``numeric`` is
    read through the slower exact path, see docs/benchmarks.md)."""
    for db in (SRC_DB, WH_DB):
        psql("postgres", f"drop database if exists {db} with (force)")
        psql("postgres", f"create database {db}")
    psql(
        SRC_DB,
        f"create table {table} as select g::bigint as id, (g % 50000)::int as customer_id, "
        "round((random()*1000)::numeric, 2)::numeric(12, 2) as amount, random()*100 as price, "
        "(g % 17)::int as qty, (array['new','paid','shipped','cancelled'])[1 + g % 4] as status, "
        "md5(g::text) as note, now() - (g || ' seconds')::interval as created_at, "
        "(timestamp '2024-01-01' + (g || ' seconds')::interval) as updated_at, "
        f"(g % 3 = 0) as flag from generate_series(1, {rows}) g; "
        f"alter table {table} add primary key (id); analyze {table};",
    )


def kspyder_contender(
    name: str, warehouse: str, home: Path, extra: dict[str, str] | None = None
) -> Contender:
    """kspyder's CLI on bench/manifests/bench.yml, with a clean local state each run."""
    env = {
        **(extra or {}),
        "KSPYDER_HOME": str(home),
        "KSPYDER_MANIFESTS": str(ROOT / "bench" / "manifests"),
        "BENCH_SOURCE_URL": SRC_URL,
    }
    return Contender(
        name,
        f"{BIN}/kspyder extract bench --warehouse {warehouse}",
        setup=f"rm -rf {home}",
        env=env,
    )


def case_pg(rows: int, repeats: int, contenders: list[str]) -> list[Contender]:
    """Case 1: PostgreSQL -> PostgreSQL warehouse."""
    home = Path(tempfile.mkdtemp(prefix="kbench_"))
    copy_setup = (
        f"{PSQL} -d {WH_DB} -c 'drop schema if exists pipe cascade; create schema pipe; "
        f"create table pipe.bench_rows ({COLUMNS})'"
    )
    pipe = (
        f"{PSQL} -d {SRC_DB} -c '\\copy bench_rows to stdout' | "
        f"{PSQL} -d {WH_DB} -c '\\copy pipe.bench_rows from stdin'"
    )
    py = f"{sys.executable} -m bench.contenders"
    env = {"BENCH_SOURCE_URL": SRC_URL, "BENCH_WH_URL": WH_URL, "PYTHONPATH": str(ROOT)}
    all_contenders = {
        "copy_pipe": Contender("copy_pipe", pipe, setup=copy_setup),
        "kspyder": kspyder_contender("kspyder", WH_URL, home),
        # the same without dlt's ADBC driver detection: Arrow tables load through CSV COPY
        "kspyder_csv": kspyder_contender(
            "kspyder_csv", WH_URL, home, {"DISABLE_ADBC_DETECTION": "true"}
        ),
        "pandas": Contender("pandas", f"{py} pandas", env=env),
        "dlt_stock": Contender("dlt_stock", f"{py} dlt_stock", env=env),
        "dlt_tuned": Contender("dlt_tuned", f"{py} dlt_tuned", env=env),
        # the same reading the table as one stream (no partitioned connectorx read)
        "kspyder_serial": kspyder_contender(
            "kspyder_serial", WH_URL, home, {"KSPYDER_READ_PARTITIONS": "1"}
        ),
        "sling": Contender("sling", f"{py} sling_pg", env=env),
        "ingestr": Contender("ingestr", f"{py} ingestr_pg", env=env),
    }
    chosen = [all_contenders[c] for c in contenders]
    run_alternating(chosen, repeats)
    shutil.rmtree(home, ignore_errors=True)
    return chosen


def case_duckdb(rows: int, repeats: int, contenders: list[str]) -> list[Contender]:
    """Case 2: PostgreSQL -> DuckDB, against direct Arrow ingestion; each its own file."""
    home = Path(tempfile.mkdtemp(prefix="kbench_"))
    py = f"{sys.executable} -m bench.contenders"

    def peer(name: str, command: str) -> Contender:
        target = home / f"{name}.duckdb"
        env = {"BENCH_SOURCE_URL": SRC_URL, "BENCH_DUCKDB": str(target), "PYTHONPATH": str(ROOT)}
        return Contender(name, f"{py} {command}", setup=f"rm -f {target}", env=env)

    all_contenders = {
        "arrow_direct": peer("arrow_direct", "arrow_duckdb"),
        "kspyder": kspyder_contender("kspyder", f"duckdb:///{home}/wh.duckdb", home / "k"),
        "kspyder_serial": kspyder_contender(
            "kspyder_serial",
            f"duckdb:///{home}/wh_serial.duckdb",
            home / "ks",
            {"KSPYDER_READ_PARTITIONS": "1"},
        ),
        "sling": peer("sling", "sling_duckdb"),
        "ingestr": peer("ingestr", "ingestr_duckdb"),
    }
    chosen = [all_contenders[c] for c in contenders]
    run_alternating(chosen, repeats)
    shutil.rmtree(home, ignore_errors=True)
    return chosen


def _last_error(contender: Contender) -> str:
    """The last non-empty output line of the contender's first failed run."""
    failed = next(s for s in contender.samples if not s.ok)
    lines = [line.strip() for line in failed.tail.splitlines() if line.strip()]
    if not lines:
        return "exited non-zero without output"
    text = re.sub(r"\x1b\[[0-9;]*m", "", lines[-1])  # colours
    text = re.sub(r"\?mid=[^\"\s]*", "", text)  # the peer's machine id, not ours to print
    return re.sub(r" on [0-9.:]+:53", "", text)[-400:]  # the local resolver


def summarize(contenders: list[Contender], rows: int) -> list[dict[str, Any]]:
    """Median wall time, rows/s and peak RSS per contender."""
    return [
        {
            "contender": c.name,
            "rows": rows,
            "median_s": round(c.median(), 2),
            "rows_per_s": round(rows / c.median()) if c.median() == c.median() else None,
            "peak_rss_mb": round(c.peak_mb()),
            "runs": [round(s.wall_s, 2) for s in c.samples],
            "ok": all(s.ok for s in c.samples),
            **({} if all(s.ok for s in c.samples) else {"error": _last_error(c)}),
        }
        for c in contenders
    ]


DEFAULT_CONTENDERS = {
    "pg": "copy_pipe,kspyder,sling,ingestr,pandas,dlt_stock,dlt_tuned",
    "duckdb": "arrow_direct,kspyder,sling,ingestr",
    "scale": "copy_pipe,kspyder,sling,ingestr",
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run one case and print/return its JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", choices=["pg", "duckdb", "scale"], default="pg")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", default=None, help="comma-separated; default per case")
    args = parser.parse_args(argv)
    chosen = (args.contenders or DEFAULT_CONTENDERS[args.case]).split(",")
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    result: dict[str, Any] = {"case": args.case}
    if args.case == "pg":
        make_source(args.rows)
        result["results"] = summarize(case_pg(args.rows, args.repeats, chosen), args.rows)
    elif args.case == "duckdb":
        make_source(args.rows)
        result["results"] = summarize(case_duckdb(args.rows, args.repeats, chosen), args.rows)
    else:
        rows_out = []
        for size in [int(s) for s in args.sizes.split(",")]:
            make_source(size)
            rows_out += summarize(case_pg(size, args.repeats, chosen), size)
        result["results"] = rows_out
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
