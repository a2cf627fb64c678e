"""Integrity checks of an incremental run: counters taken while rows stream, warnings after.

"ok" must mean every row arrived. What a load cannot prove, or knows it did not do, becomes a
warning on the model (status ``warn``, shown in the summary, not a failure): an append model
re-reading its whole table, a source column added after older rows were loaded, a first
incremental run that loaded nothing from a source that has rows, a REST endpoint answering
records older than the cursor it was sent. Counters: rows with a NULL cursor, stale records.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import dlt
from dlt.common.schema.utils import has_table_seen_data

from extract.manifest.typing import Model, Source

_lock = threading.Lock()
_counts: dict[tuple[str, str], Counter[str]] = {}


def count(source: str, model: str, key: str, n: int = 1) -> None:
    """Add ``n`` to a model's counter (``null_cursor``, ``stale``), from any thread."""
    if n:
        with _lock:
            _counts.setdefault((source, model), Counter())[key] += n


def take(source: str, model: str) -> dict[str, int]:
    """The counters of a model since the last ``take``, then forgotten."""
    with _lock:
        return dict(_counts.pop((source, model), Counter()))


def reset(source: str, models: list[str]) -> None:
    """Forget what an earlier (failed) run of these models counted."""
    with _lock:
        for model in models:
            _counts.pop((source, model), None)


@dataclass
class TableBefore:
    """What the pipeline schema knew of a model's table before the run."""

    seen_data: bool = False
    columns: set[str] = field(default_factory=set)


def snapshot(pipeline: dlt.Pipeline, unit: list[str]) -> dict[str, TableBefore]:
    """The unit's root tables as the local schema describes them, before a run."""
    if not pipeline.default_schema_name:
        return {}
    tables = pipeline.default_schema.tables
    return {
        m: TableBefore(has_table_seen_data(tables[m]), set(tables[m].get("columns", {})))
        for m in unit
        if m in tables
    }


def _columns_now(pipeline: dlt.Pipeline, model: str) -> set[str]:
    if not pipeline.default_schema_name:
        return set()
    return set(pipeline.default_schema.tables.get(model, {}).get("columns", {}))


@dataclass
class Outcome:
    """The rows and warnings of one model after its load."""

    received: int
    kept: int
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)


def kept_rows(pipeline: dlt.Pipeline, model: str, load_id: str | None) -> int | None:
    """Rows of ``load_id`` in the model's table after merge (None when it cannot be read)."""
    if load_id is None:
        return None
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(model)
        rows = client.execute_sql(f"select count(*) from {table} where _dlt_load_id = %s", load_id)
    return int(rows[0][0]) if rows else None


def check_model(
    source: Source,
    model: Model,
    pipeline: dlt.Pipeline,
    before: TableBefore | None,
    received: int,
    load_id: str | None,
    reloaded: bool,
    in_warehouse: bool,
) -> Outcome:
    """Rows received and kept, counters and warnings of one model just loaded."""
    counters = take(source.name, model.name)
    kept = received
    if in_warehouse and model.write_disposition == "merge" and received:
        kept = kept_rows(pipeline, model.name, load_id) or 0
    out = Outcome(received, kept, extra=counters)
    earlier = before is not None and before.seen_data and not reloaded
    if earlier and received and not model.incremental and not model.primary_key:
        if model.write_disposition == "append":
            out.warnings.append(_reread(source, model, received))
    if earlier and model.incremental is not None and before is not None:
        added = sorted(c for c in _columns_now(pipeline, model.name) - before.columns)
        added = [c for c in added if not c.startswith("_dlt")]
        if added:
            out.warnings.append(_backfill(source, model, added))
    if source.kind == "sql" and model.incremental is not None:
        _sql_checks(source, model, out, first_run=before is None or not before.seen_data)
    stale = counters.get("stale", 0)
    if stale and model.incremental is not None:
        out.warnings.append(
            f"the endpoint returned {stale} record(s) older than the cursor sent in "
            f"'{model.incremental.param}': it seems to ignore the parameter (dlt filtered them "
            "out, but every run reads them again)"
        )
    return out


def _sql_checks(source: Source, model: Model, out: Outcome, first_run: bool) -> None:
    from extract.sql import source_rows

    assert model.incremental is not None
    spec = model.incremental
    if spec.on_null_cursor == "exclude":
        out.extra["null_cursor"] = source_rows(source, model, null_cursor=True)
    if first_run and out.received == 0:
        total = source_rows(source, model)
        if total:
            out.warnings.append(
                f"0 of {total} source rows loaded by the first incremental run: is "
                f"initial_value ({spec.initial_value}) later than every '{spec.cursor}'?"
            )


def _reread(source: Source, model: Model, received: int) -> str:
    return (
        f"manifests/{source.name}.yml models.{model.name}: write_disposition 'append' without "
        f"primary_key or incremental re-reads the whole source each run: {received} rows "
        "appended again (duplicates of earlier runs); declare an incremental cursor, or "
        "write_disposition 'replace', or 'merge' with a primary_key"
    )


def _backfill(source: Source, model: Model, added: list[str]) -> str:
    return (
        f"new source column(s) {', '.join(added)}: filled for rows loaded from now on, rows "
        "loaded earlier stay NULL; back-fill them with "
        f"`kspyder extract {source.name} --model {model.name} --full-refresh`"
    )
