"""Contenders of the SQL benchmarks, each runnable alone: ``python -m bench.contenders NAME``.

Every contender copies ``bench_rows`` from the source database into the warehouse named by
``BENCH_WH_URL`` (PostgreSQL) or ``BENCH_DUCKDB`` (a DuckDB file); run in a fresh process so
its wall time and peak RSS are its own.
"""

from __future__ import annotations

import os
import sys
import tempfile

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


CONTENDERS = {
    "pandas": pandas_copy,
    "dlt_stock": dlt_stock,
    "dlt_tuned": dlt_tuned,
    "arrow_duckdb": arrow_duckdb,
}

if __name__ == "__main__":
    CONTENDERS[sys.argv[1]]()
