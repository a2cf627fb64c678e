"""Run a source through dlt (extract -> normalize -> load) into a warehouse or local files.

Pipelines are named ``kspyder_<source>`` and live in ``.kspyder/pipelines`` (see
``extract.project``), so ``dlt pipeline --pipelines-dir .kspyder/pipelines kspyder_erp info``
works. Each model (with its REST children) loads in its own run, so one failing model
never loses what the others loaded.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dlt

from extract import project
from extract.errors import exception_chain, root_cause
from extract.locks import source_lock
from extract.manifest.typing import Source
from extract.secrets import redact
from extract.sources import build_source, select_models
from extract.warehouse import Warehouse

MARKER = ".kspyder_destination"


@dataclass
class ModelResult:
    """What happened to one model in one run (the run summary's row)."""

    source: str
    model: str
    status: str = "ok"
    rows: int = 0
    duration_s: float = 0.0
    destination: str = ""
    dataset: str = ""
    load_id: str | None = None
    error: str | None = None
    pii_dropped: int = 0
    pii_hashed: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for JSON and Prefect artifacts."""
        return asdict(self)


def dataset_name(source: Source, warehouse: Warehouse) -> str:
    """One schema per source; for local files, one folder per source."""
    return source.name


def _pipeline_name(source: Source, warehouse: Warehouse) -> str:
    suffix = "_files" if warehouse.kind == "files" else ""
    return project.pipeline_name(source.name) + suffix


def make_pipeline(source: Source, warehouse: Warehouse) -> dlt.Pipeline:
    """The dlt pipeline of a source, with local state checked against the destination."""
    name = _pipeline_name(source, warehouse)
    pipes = project.pipelines_dir()
    # local load packages are temporary: plain files are faster to write and to COPY, and
    # `--to json|csv` users expect readable files
    dlt.config["normalize.data_writer.disable_compression"] = True
    # every row, Arrow batches included, carries the load it came from (lineage, audits)
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    # bounded memory and parallel COPY: rotate load files every 250k rows
    dlt.config["data_writer.file_max_items"] = 250_000
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
    results: list[ModelResult] = []
    with source_lock(source.name):
        pipeline = make_pipeline(source, warehouse)
        for unit in load_units(source, selected):
            results += _run_unit(source, warehouse, pipeline, unit, full_refresh)
            if on_model:
                for result in results[-len(unit) :]:
                    on_model(result)
    return results


def _run_unit(
    source: Source,
    warehouse: Warehouse,
    pipeline: dlt.Pipeline,
    unit: list[str],
    full_refresh: bool,
) -> list[ModelResult]:
    started = time.perf_counter()
    where, dataset = warehouse.display, dataset_name(source, warehouse)
    try:
        dlt_source = build_source(source, unit)
        info = pipeline.run(
            dlt_source,
            loader_file_format=warehouse.loader_file_format(source.kind == "sql"),  # type: ignore[arg-type]
            refresh="drop_resources" if full_refresh else None,  # type: ignore[arg-type]
        )
        info.raise_on_failed_jobs()
    except Exception as exc:  # one model failing must not stop the others
        duration = time.perf_counter() - started
        message = redact(_root_message(exc) + _hint(exc, source))
        return [
            ModelResult(source.name, m, "failed", 0, duration, where, dataset, error=message)
            for m in unit
        ]
    duration = time.perf_counter() - started
    load_id = info.loads_ids[-1] if info.loads_ids else None
    stats = _unit_stats(source)
    return [
        ModelResult(
            source.name,
            m,
            "ok",
            _rows(pipeline, m),
            duration,
            where,
            dataset,
            load_id=load_id,
            pii_dropped=len(source.pii_columns("drop").get(m, [])),
            pii_hashed=len(source.pii_columns("hash").get(m, [])),
            extra=stats.get(m, {}),
        )
        for m in unit
    ]


def _unit_stats(source: Source) -> dict[str, dict[str, int]]:
    """REST request/page/retry counters of the unit just run (empty for SQL)."""
    if source.kind != "rest":
        return {}
    from extract.rest import rest_stats

    return {m: dict(v) for m, v in rest_stats(source.name).items()}


def _hint(exc: BaseException, source: Source) -> str:
    """What to do about failures the user must act on."""
    if any(type(e).__name__.startswith("SchemaUpdate") for e in exception_chain(exc)):
        return (
            f" -- the warehouse table cannot be changed in place: run "
            f"`kspyder rebuild {source.name}` to drop and reload the source"
        )
    return ""


def _root_message(exc: BaseException) -> str:
    """The innermost meaningful message of a dlt pipeline exception chain."""
    seen = root_cause(exc)
    text = f"{type(seen).__name__}: {seen}"
    return text if seen is exc else f"{type(exc).__name__} in {_step(exc)}: {text}"


def _step(exc: BaseException) -> str:
    return str(getattr(exc, "step", "run"))
