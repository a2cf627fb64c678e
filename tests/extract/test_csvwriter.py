"""The Arrow -> CSV writer that formats time-zone-aware timestamps fast: same instants."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from dlt.common.data_writers import writers

from extract import csvwriter
from extract.load import extract_source
from extract.warehouse import resolve
from tests.helpers import load, query

INSTANTS = [
    datetime(2024, 3, 31, 0, 59, 59, 123456, tzinfo=UTC),
    datetime(1901, 1, 1, tzinfo=UTC),
    None,
    datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", ["UTC", "+00:00", "Europe/Paris", "-07:30"])
def test_aware_timestamps_become_the_same_instants_as_text(unit: str, tz: str) -> None:
    values = [v.replace(microsecond=0) if v and unit == "s" else v for v in INSTANTS]
    if unit == "ms":
        values = [v.replace(microsecond=v.microsecond // 1000 * 1000) if v else v for v in values]
    table = pa.table({"t": pa.array(values, type=pa.timestamp(unit, tz=tz)), "n": [1, 2, 3, 4]})
    out = csvwriter._fast_timestamps(table)
    assert out.schema.field("n").type == pa.int64()  # other columns untouched
    read = [datetime.fromisoformat(s) if s else None for s in out.column("t").to_pylist()]
    assert read == values
    for batch in table.to_batches():  # RecordBatch too
        assert csvwriter._fast_timestamps(batch).column(0).to_pylist() == out.column(0).to_pylist()


def test_install_replaces_dlts_writer_once() -> None:
    csvwriter.install()
    csvwriter.install()
    found = writers.DataWriter.class_factory("csv", "arrow", writers.ALL_WRITERS)
    assert found is csvwriter.FastTimestampArrowToCsvWriter
    assert writers.ALL_WRITERS.count(csvwriter.FastTimestampArrowToCsvWriter) == 1
    assert csvwriter.FastTimestampArrowToCsvWriter in writers.NATIVE_FORMAT_WRITERS["arrow"]


def test_writer_output_reads_back_with_pyarrow() -> None:
    table = pa.table({"t": pa.array(INSTANTS, type=pa.timestamp("us", tz="UTC")), "n": [1] * 4})
    buffer = io.BytesIO()
    pcsv.write_csv(csvwriter._fast_timestamps(table), buffer)
    back = pcsv.read_csv(io.BytesIO(buffer.getvalue())).column("t")
    assert back.to_pylist() == INSTANTS


@pytest.mark.postgres
def test_timestamptz_round_trip_into_postgres_whatever_the_session_time_zone(
    pg_source_db: str, pg_database: str, manifests_dir: Path
) -> None:
    conn = psycopg2.connect(pg_source_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table ev (id int primary key, at timestamptz)")
        cur.executemany("insert into ev values (%s, %s)", list(enumerate(INSTANTS)))
    conn.close()
    name = pg_database.rsplit("/", 1)[1]
    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:  # the loader's sessions see another zone: must not matter
        cur.execute(f"alter database \"{name}\" set timezone to 'America/New_York'")
    conn.close()
    text = f"kind: sql\nconnection: {{url: '{pg_source_db}'}}\nmodels:\n  ev: {{primary_key: id}}\n"
    warehouse = resolve(pg_database)
    (result,) = extract_source(load(manifests_dir, "src", text), warehouse)
    assert result.status == "ok", result.error
    got = query(warehouse.sqlalchemy_url(), "select at from src.ev order by id")
    assert [r[0] for r in got] == INSTANTS
