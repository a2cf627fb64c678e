"""Contenders of the SQL benchmarks, each runnable alone: ``python -m bench.contenders NAME``.

Every contender copies ``bench_rows`` from the source database into the warehouse named by
``BENCH_WH_URL`` (PostgreSQL) or ``BENCH_DUCKDB`` (a DuckDB file); run in a fresh process so
its wall time and peak RSS are its own.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

SRC = os.environ.get("BENCH_SOURCE_URL", "postgresql://postgres@127.0.0.1:5432/kspyder_bench_src")
WH = os.environ.get("BENCH_WH_URL", "postgresql://postgres@127.0.0.1:5432/kspyder_bench_wh")
TABLE = os.environ.get("BENCH_TABLE", "bench_rows")


def _pg(url: str) -> str:
    """psycopg2/dlt need a password field; any value works under trust auth."""
    return url.replace("postgres@", "postgres:trust@", 1)


def pandas_copy() -> None:
    """What the original tool did: pandas read_sql + to_sql, in chunks."""
    import pandas as pd
    import sqlalchemy as sa

    src = sa.create_engine(SRC.replace("postgresql://", "postgresql+psycopg2://"))
    dst = sa.create_engine(WH.replace("postgresql://", "postgresql+psycopg2://"))
    with dst.begin() as conn:
        conn.exec_driver_sql("create schema if not exists pandas_copy")
        conn.exec_driver_sql(f"drop table if exists pandas_copy.{TABLE}")
    first = True
    for chunk in pd.read_sql(f"select * from {TABLE}", src, chunksize=50_000):
        chunk.to_sql(TABLE, dst, schema="pandas_copy", if_exists="append", index=False)
        first = False
    assert not first


def _dlt_run(dataset: str, backend: str, file_format: str | None) -> None:
    import dlt
    from dlt.sources.sql_database import sql_table

    pipes = tempfile.mkdtemp(prefix="bench_dlt_")
    kwargs = {"backend": backend}
    if backend == "connectorx":
        kwargs["backend_kwargs"] = {"conn": SRC}
    resource = sql_table(credentials=SRC, table=TABLE, **kwargs)  # type: ignore[arg-type]
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{dataset}",
        pipelines_dir=pipes,
        destination=dlt.destinations.postgres(credentials=_pg(WH)),
        dataset_name=dataset,
    )
    info = pipeline.run(resource, write_disposition="replace", loader_file_format=file_format)
    info.raise_on_failed_jobs()


def dlt_stock() -> None:
    """Stock dlt ``sql_database`` with its defaults (SQLAlchemy rows, INSERT statements)."""
    _dlt_run("dlt_stock", "sqlalchemy", None)


def dlt_tuned() -> None:
    """dlt tuned by hand: pyarrow backend and the CSV/COPY loader."""
    _dlt_run("dlt_tuned", "pyarrow", "csv")


def arrow_duckdb() -> None:
    """The practical limit into DuckDB: connectorx Arrow batches straight into duckdb."""
    import connectorx as cx
    import duckdb

    path = os.environ["BENCH_DUCKDB"]
    con = duckdb.connect(path)
    con.execute("create schema if not exists direct")
    reader = cx.read_sql(
        SRC, f"select * from {TABLE}", return_type="arrow_stream", batch_size=100_000
    )
    con.register("reader", reader)
    con.execute(f"create or replace table direct.{TABLE} as select * from reader")
    con.close()


def _binary(name: str) -> str:
    """A peer's executable from the bench extras (``pip install -e '.[bench]'``)."""
    here = Path(sys.executable).parent
    candidates = [here / name, shutil.which(name)]
    if name == "sling":  # sling-linux-amd64 ships the Go binary inside the package
        import importlib.util

        spec = importlib.util.find_spec("sling_linux_amd64")
        if spec and spec.origin:
            candidates.insert(0, Path(spec.origin).parent / "bin" / "sling-linux-amd64")
    for path in candidates:
        if path and Path(path).is_file():
            return str(path)
    sys.exit(f"{name} is not installed: make bench-setup (pip install -e '.[bench]')")


def _exec(argv: list[str], env: dict[str, str] | None = None) -> None:
    """Replace this process, so wall time and peak RSS are the peer's own."""
    sys.stdout.flush()
    os.execve(argv[0], argv, {**os.environ, **(env or {})})


def _sling(target_conn: str, target_object: str) -> None:
    """Sling's documented CLI form: connections from environment URLs, full refresh."""
    home = tempfile.mkdtemp(prefix="bench_sling_")
    env = {
        "SLING_HOME_DIR": home,
        "BENCH_SLING_SRC": f"{SRC}?sslmode=disable",
        "BENCH_SLING_TGT": target_conn,
    }
    argv = [_binary("sling"), "run", "--src-conn", "BENCH_SLING_SRC"]
    argv += ["--src-stream", f"public.{TABLE}", "--tgt-conn", "BENCH_SLING_TGT"]
    _exec([*argv, "--tgt-object", target_object, "--mode", "full-refresh"], env)


def sling_pg() -> None:
    """Sling, PostgreSQL -> PostgreSQL (it streams through COPY)."""
    _sling(f"{WH}?sslmode=disable", f"sling.{TABLE}")


def sling_duckdb() -> None:
    """Sling, PostgreSQL -> DuckDB (it drives the DuckDB CLI, which it downloads)."""
    _sling(f"duckdb://{os.environ['BENCH_DUCKDB']}", f"sling.{TABLE}")


def _ingestr(dest_uri: str) -> None:
    """ingestr's documented form: ``ingestr ingest`` with source/destination URIs, defaults."""
    argv = [_binary("ingestr"), "ingest", "--yes", "--source-uri", f"{_pg(SRC)}?sslmode=disable"]
    argv += ["--source-table", f"public.{TABLE}", "--dest-uri", dest_uri]
    _exec([*argv, "--dest-table", f"ingestr.{TABLE}"])


def ingestr_pg() -> None:
    """ingestr, PostgreSQL -> PostgreSQL."""
    _ingestr(f"{_pg(WH)}?sslmode=disable")


def ingestr_duckdb() -> None:
    """ingestr, PostgreSQL -> DuckDB (through DuckDB's ADBC driver, which it downloads)."""
    _ingestr(f"duckdb:///{os.environ['BENCH_DUCKDB']}")


CONTENDERS = {
    "sling_pg": sling_pg,
    "sling_duckdb": sling_duckdb,
    "ingestr_pg": ingestr_pg,
    "ingestr_duckdb": ingestr_duckdb,
    "pandas": pandas_copy,
    "dlt_stock": dlt_stock,
    "dlt_tuned": dlt_tuned,
    "arrow_duckdb": arrow_duckdb,
}

if __name__ == "__main__":
    CONTENDERS[sys.argv[1]]()
