"""Run a source through dlt (extract -> normalize -> load) into a warehouse or local files.

Pipelines are named ``kspyder_<source>`` and live in ``.kspyder/pipelines`` (see
``extract.project``), so ``dlt pipeline --pipelines-dir .kspyder/pipelines kspyder_erp info``
works. Each model (with its REST children) loads in its own run, so one failing model
never loses what the others loaded.

Before a model runs, what an earlier run left pending is finished or dropped, and a model
that fails has its pending package aborted (``packages``), so its error never becomes the
next model's; its results carry the message ``failures`` words. A model whose warehouse
table is gone while local state remembers loading it is reloaded from scratch.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dlt
from dlt.common.schema.utils import get_root_table

from extract import csvwriter, integrity, packages, project
from extract.failures import failure_message
from extract.locks import source_lock
from extract.manifest.typing import Source
from extract.pii_key import check_key
from extract.sources import build_source, select_models
from extract.status import Status
from extract.warehouse import Warehouse

MARKER = ".kspyder_destination"
log = logging.getLogger(__name__)


@dataclass
class ModelResult:
    """What happened to one model in one run (the run summary's row).

    ``rows`` are the rows the load kept (after merge de-duplicated versions of a key),
    ``rows_received`` what the source sent; they differ only for merge models.
    """

    source: str
    model: str
    status: Status = "ok"
    rows: int = 0
    duration_s: float = 0.0
    destination: str = ""
    dataset: str = ""
    load_id: str | None = None
    error: str | None = None
    pii_dropped: int = 0
    pii_hashed: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    rows_received: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for JSON and Prefect artifacts."""
        return asdict(self)


def dataset_name(source: Source, warehouse: Warehouse) -> str:
    """One schema per source; for local files, one folder per source."""
    return source.name


def _pipeline_name(source: Source, warehouse: Warehouse) -> str:
    suffix = "_files" if warehouse.kind == "files" else ""
    return project.pipeline_name(source.name) + suffix


class _BenignDltWarnings(logging.Filter):
    """dlt warnings that are expected with kspyder, logged at INFO instead (shown with
    dlt's log level at INFO): kspyder declares column hints (types, keys, nullability)
    that differ from the Arrow schema of each batch on purpose (once per batch: ten lines
    for a 1M-row table), an ``initial_value`` without a time zone compared with
    timestamps that have one, which dlt adapts, and ``dedup_sort`` ignored by local files."""

    BENIGN = {
        "_compute_tables": "several column hints were different",
        "_adapt_timezone": "differ in timezone awareness",
        # merge models declare dedup_sort; local files (`--to`) are appended without it
        "verify_schema_merge_disposition": "dedup_sort",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        text = self.BENIGN.get(record.funcName)
        if record.levelno == logging.WARNING and text and text in str(record.msg):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger("dlt").isEnabledFor(logging.INFO)
        return True


def _quiet_benign_dlt_warnings() -> None:
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _BenignDltWarnings) for f in dlt_logger.filters):
        dlt_logger.addFilter(_BenignDltWarnings())


def make_pipeline(source: Source, warehouse: Warehouse) -> dlt.Pipeline:
    """The dlt pipeline of a source, with local state checked against the destination."""
    name = _pipeline_name(source, warehouse)
    pipes = project.pipelines_dir()
    _quiet_benign_dlt_warnings()
    csvwriter.install()  # tz-aware timestamps into CSV load files: ~30x faster
    # local load packages are temporary: plain files are faster to write and to COPY, and
    # `--to json|csv` users expect readable files
    dlt.config["normalize.data_writer.disable_compression"] = True
    # every row, Arrow batches included, carries the load it came from (lineage, audits)
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    # Parquet files that only carry rows to the warehouse are not compressed (faster to write
    # and to read back); Parquet written for users (`--to parquet`) keeps snappy
    dlt.config["data_writer.compression"] = "snappy" if warehouse.kind == "files" else "none"
    # bounded memory and parallel COPY: rotate load files every 250k rows
    dlt.config["data_writer.file_max_items"] = 250_000
    # loaded packages keep their state, schema and metrics (`dlt pipeline ... info`, `trace`)
    # but not their data files: raw copies of every row, PII masked only later in dbt
    dlt.config["load.delete_completed_jobs"] = True
    marker = pipes / name / MARKER
    if marker.exists() and marker.read_text() != warehouse.fingerprint:
        shutil.rmtree(pipes / name)  # destination changed: state must come from the new one
    pipeline = dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(pipes),
        destination=warehouse.destination(),
        dataset_name=dataset_name(source, warehouse),
    )
    if warehouse.kind != "files" and _local_state_orphaned(pipeline):
        pipeline.drop()  # the warehouse lost the data: start over from the sources
        pipeline = dlt.pipeline(
            pipeline_name=name,
            pipelines_dir=str(pipes),
            destination=warehouse.destination(),
            dataset_name=dataset_name(source, warehouse),
        )
    (pipes / name).mkdir(parents=True, exist_ok=True)
    marker.write_text(warehouse.fingerprint)
    return pipeline


def _local_state_orphaned(pipeline: dlt.Pipeline) -> bool:
    """True when local state remembers loads but the warehouse has no dataset any more."""
    if pipeline.first_run or not pipeline.state.get("sources"):
        return False
    with pipeline.sql_client() as client:
        return not client.has_dataset()


class _WarehouseTables:
    """The tables of a source's dataset, read once per source run when first needed."""

    def __init__(self, pipeline: dlt.Pipeline, warehouse: Warehouse) -> None:
        self.pipeline = pipeline
        self.checked = warehouse.kind != "files"
        self._present: set[str] | None = None
        self.settled: Counter[str] = Counter()  # rows of pending packages finished this run

    def lost(self, unit: list[str]) -> list[str]:
        """Tables of ``unit`` that local state says hold data but the warehouse no longer has."""
        known = _loaded_tables(self.pipeline, unit) if self.checked else set()
        if not known:
            return []
        if self._present is None:
            self._present = _dataset_tables(self.pipeline)
        return sorted(known - self._present)


def _loaded_tables(pipeline: dlt.Pipeline, unit: list[str]) -> set[str]:
    """Data tables (nested ones included) of the unit's resources that have seen data."""
    if not pipeline.default_schema_name:
        return set()
    schema = pipeline.default_schema
    return {
        t["name"]
        for t in schema.data_tables(seen_data_only=True)
        if get_root_table(schema.tables, t["name"]).get("resource") in unit
    }


def _dataset_tables(pipeline: dlt.Pipeline) -> set[str]:
    with pipeline.sql_client() as client:
        schema = client.make_qualified_table_name_path(None, quote=False)[-1]
        rows = client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s", schema
        )
    return {str(r[0]) for r in rows or []}


def load_units(source: Source, models: list[str]) -> list[list[str]]:
    """Groups loaded together: a model with its descendants (REST parent/child)."""
    roots = [
        m for m in models if not source.models[m].parent or source.models[m].parent not in models
    ]
    units = []
    for root in roots:
        unit, frontier = [root], [root]
        while frontier:
            children = [m for m in models if source.models[m].parent in frontier]
            unit += children
            frontier = children
        units.append(unit)
    return units


def _rows(pipeline: dlt.Pipeline, model: str) -> int:
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    return int(counts.get(model, 0))


def extract_source(
    source: Source,
    warehouse: Warehouse,
    models: list[str] | None = None,
    full_refresh: bool = False,
    on_model: Callable[[ModelResult], None] | None = None,
) -> list[ModelResult]:
    """Extract and load the selected models of one source; one result per model."""
    selected = select_models(source, models)
    check_key(source, selected, warehouse)  # pseudonyms keep one key per warehouse
    results: list[ModelResult] = []
    with source_lock(source.name):
        if problem := warehouse.unreadable():  # dlt would only say "check the credentials"
            return _reported(_failed(source, warehouse, selected, problem, 0.0), on_model)
        pipeline = make_pipeline(source, warehouse)
        packages.remove_partial_packages(pipeline)  # what a crash or a full disk left half-written
        tables = _WarehouseTables(pipeline, warehouse)
        for unit in load_units(source, selected):
            unit_results = _run_unit(source, warehouse, pipeline, unit, full_refresh, tables)
            results += _reported(unit_results, on_model)
    return results


def _reported(
    results: list[ModelResult], on_model: Callable[[ModelResult], None] | None
) -> list[ModelResult]:
    if on_model:
        for result in results:
            on_model(result)
    return results


def _failed(
    source: Source, warehouse: Warehouse, unit: list[str], error: str, duration: float
) -> list[ModelResult]:
    where, dataset = warehouse.display, dataset_name(source, warehouse)
    return [
        ModelResult(source.name, m, "failed", 0, duration, where, dataset, error=error)
        for m in unit
    ]


def _model_failure(exc: BaseException) -> bool:
    """An error of the model, not of the process: any Exception, and the PanicException a
    Rust extension (connectorx) raises as a BaseException, e.g. on a numeric NaN."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _run_unit(
    source: Source,
    warehouse: Warehouse,
    pipeline: dlt.Pipeline,
    unit: list[str],
    full_refresh: bool,
    tables: _WarehouseTables,
) -> list[ModelResult]:
    started = time.perf_counter()
    where, dataset = warehouse.display, dataset_name(source, warehouse)
    integrity.reset(source.name, unit)
    try:
        dlt_source = build_source(source, unit)
        if warehouse.kind == "files" and warehouse.file_format == "csv":  # files for people
            for resource in dlt_source.resources.values():
                resource.add_map(csvwriter.neutralise_item)
        tables.settled += packages.settle_pending(pipeline)
        before = integrity.snapshot(pipeline, unit)
        reload = full_refresh or _reload(source, unit, tables)
        info = packages.run(
            pipeline,
            dlt_source,
            loader_file_format=warehouse.loader_file_format(),
            refresh="drop_resources" if reload else None,
        )
        info.raise_on_failed_jobs()
        load_id = info.loads_ids[-1] if info.loads_ids else None
        outcomes = {
            m: integrity.check_model(
                source,
                source.models[m],
                pipeline,
                before.get(m),
                _rows(pipeline, m),
                load_id,
                reload,
                warehouse.kind != "files",
            )
            for m in unit
        }
    except BaseException as exc:  # one model failing must not stop the others
        if not _model_failure(exc):
            raise
        message = failure_message(exc, source, pipeline, unit)
        packages.abort_pending(pipeline)
        return _failed(source, warehouse, unit, message, time.perf_counter() - started)
    duration = time.perf_counter() - started
    stats = _unit_stats(source)
    results = []
    for m in unit:
        out, settled = outcomes[m], tables.settled.pop(m, 0)
        for warning in out.warnings:
            log.warning("%s.%s: %s", source.name, m, warning)
        results.append(
            ModelResult(
                source.name,
                m,
                "warn" if out.warnings else "ok",
                out.kept + settled,
                duration,
                where,
                dataset,
                load_id=load_id,
                pii_dropped=len(source.pii_columns("drop").get(m, [])),
                pii_hashed=len(source.pii_columns("hash").get(m, [])),
                extra={
                    **stats.get(m, {}),
                    **out.extra,
                    **({"settled": settled} if settled else {}),
                },
                rows_received=out.received + settled,
                warnings=out.warnings,
            )
        )
    return results


def _reload(source: Source, unit: list[str], tables: _WarehouseTables) -> bool:
    lost = tables.lost(unit)
    if lost:
        log.warning(
            "%s: %s missing from the warehouse; reloading %s from scratch",
            source.name,
            ", ".join(lost),
            ", ".join(unit),
        )
    return bool(lost)


def _unit_stats(source: Source) -> dict[str, dict[str, int]]:
    """REST request/page/retry counters of the unit just run (empty for SQL)."""
    if source.kind != "rest":
        return {}
    from extract.rest import rest_stats

    return {m: dict(v) for m, v in rest_stats(source.name).items()}
