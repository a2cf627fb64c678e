"""The stage functions every flow and command calls: plain Python, no Prefect.

Each takes and returns references and counts (source names, model results, output paths),
never rows, so Prefect can persist task results safely. Calling them directly (without
Prefect) is how the orchestration overhead is measured in ``bench/``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from extract.load import ModelResult
from extract.manifest.loader import load_manifests
from extract.manifest.typing import Source
from extract.warehouse import resolve


@dataclass
class TransformResult:
    """What dbt did: models built, tests passed/failed, failures by node."""

    status: str = "ok"
    models_built: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    duration_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for JSON and Prefect results."""
        return asdict(self)


@dataclass
class AggregateResult:
    """One aggregation pipeline run: its outputs, or its error."""

    pipeline: str
    status: str = "ok"
    outputs: list[str] = field(default_factory=list)
    rows: int = 0
    duration_s: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for JSON and Prefect results."""
        return asdict(self)


def source_names(only: list[str] | None = None) -> list[str]:
    """Enabled sources (validated), in manifest order."""
    return [name for name, s in load_manifests(only=only or None).items() if s.enabled]


# Imported lazily by extraction (dlt imports them on first use). Two task threads importing
# them for the first time at once can get a partially initialized module (Python's import
# deadlock avoidance hands one thread the half-run module): "partially initialized module
# 'pandas' has no attribute 'DataFrame'", seen on the demo as a failed first attempt.
LAZY_IMPORTS = (
    "pyarrow",
    "pyarrow.parquet",
    "pyarrow.csv",
    "pyarrow.compute",
    "pandas",
    "sqlalchemy",
    "connectorx",
    "duckdb",
    "dlt.common.libs.pyarrow",
    "dlt.common.libs.pandas",
    "dlt.sources.sql_database",
    "dlt.sources.helpers.rest_client",
    "dlt.normalize",
    "dlt.load",
)


def preload_modules() -> None:
    """Import what extraction imports lazily, once, before sources run concurrently."""
    import importlib

    for name in LAZY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional backend that is not installed
            continue


def _mask_counts(source: Source, model: str) -> int:
    cols = source.models[model].columns.values()
    return sum(1 for c in cols if c.pii in ("mask", "redact"))


def extract_stage(
    source_name: str,
    models: list[str] | None = None,
    full_refresh: bool = False,
    warehouse_url: str | None = None,
) -> list[dict[str, Any]]:
    """Extract and load one source (warehouse or documents); one result dict per model."""
    source = load_manifests(only=[source_name])[source_name]
    if source.target == "documents":
        from extract.documents import load_documents

        results: list[ModelResult] = load_documents(source, models, full_refresh)
    else:
        from extract.load import extract_source

        results = extract_source(source, resolve(warehouse_url), models, full_refresh)
    out = []
    for r in results:
        row = r.as_dict()
        row["pii_masked"] = _mask_counts(source, r.model)
        row.update(row.pop("extra", {}) or {})
        out.append(row)
    return out


def transform_stage(
    select: list[str] | None = None,
    warehouse_url: str | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """``dbt build`` (optionally a selection) on the warehouse; counts and failures."""
    from transform.dbt.runner import build_args, run_dbt

    args = build_args(select, full_refresh)
    if not os.environ.get("KSPYDER_DBT_VERBOSE"):
        args.append("--quiet")  # the run summary reports models and tests; errors still print
    result = run_dbt(args, resolve(warehouse_url))
    return TransformResult(
        status="ok" if result.success else "failed",
        models_built=len(result.models),
        tests_passed=result.tests_passed,
        tests_failed=result.tests_failed + result.tests_errored,
        duration_s=result.elapsed_s,
        failures=list(result.failures),
    ).as_dict()


def aggregate_stage(name: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one Mongo aggregation pipeline and write its outputs."""
    import time

    from transform.aggregate import run_pipeline

    started = time.perf_counter()
    try:
        outputs = run_pipeline(name, params or {})
    except Exception as exc:  # noqa: BLE001 (in the summary; the other pipelines still run)
        from extract.secrets import redact

        return AggregateResult(
            name, "failed", duration_s=time.perf_counter() - started, error=redact(str(exc))
        ).as_dict()
    return AggregateResult(
        name, outputs=[str(p) for p in outputs], duration_s=time.perf_counter() - started
    ).as_dict()


def report_stage(database: str = "cloud") -> dict[str, Any]:
    """Write the HTML report after the aggregations; skipped when no estate was loaded."""
    from transform.report import has_estate, write_report

    try:
        if not has_estate(database):
            return {"status": "skipped", "path": None, "error": None}
        return {"status": "ok", "path": str(write_report(database)), "error": None}
    except Exception as exc:  # noqa: BLE001 (in the summary; the run is then failed)
        from extract.secrets import redact

        return {"status": "failed", "path": None, "error": redact(str(exc))}


def pipeline_names(only: list[str] | None = None) -> list[str]:
    """Names of the aggregation pipelines to run (all when ``only`` is empty)."""
    from transform.aggregate import load_pipelines

    names = list(load_pipelines())
    return [n for n in names if not only or n in only]


def pipeline_params(names: list[str], params: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each pipeline's share of the run's ``--param`` values (the ones it declares)."""
    if not names:
        return {}
    from transform.aggregate import load_pipelines, split_params

    pipelines = {n: p for n, p in load_pipelines().items() if n in names}
    return {n: dict(v) for n, v in split_params(pipelines, params).items()}


def warehouse_by_reference(url: str | None) -> str | None:
    """``url``, or None after exporting it as ``$KSPYDER_WAREHOUSE`` when it has a password.

    Flow-run parameters are stored by Prefect: a password must not be among them.
    """
    from extract.secrets import url_passwords
    from extract.warehouse import WAREHOUSE_ENV

    if url and url_passwords(url):
        os.environ[WAREHOUSE_ENV] = url
        return None
    return url


def dbt_selection(sources: list[str]) -> list[str]:
    """dbt's selection for a run narrowed to sources: what depends on them (``source:x+``)."""
    manifests = load_manifests(only=sources or None, validate_env=False)
    return [f"source:{n}+" for n, s in manifests.items() if s.target == "warehouse"]


def pipelines_reading(sources: list[str]) -> list[str]:
    """The aggregation pipelines that read the databases of these (documents) sources."""
    manifests = load_manifests(only=sources or None, validate_env=False)
    databases = {n for n, s in manifests.items() if s.target == "documents"}
    if not databases:
        return []
    from transform.aggregate import load_pipelines

    return [n for n, p in load_pipelines().items() if p.database in databases]


def rotate_key_stage(warehouse_url: str | None = None) -> list[dict[str, Any]]:
    """Re-hash with the current HMAC key: full-refresh every source with hashed columns (the
    warehouse's and the document databases'), then record the key's fingerprint with each
    store whose every model reloaded."""
    from extract.documents import load_documents, record_document_key
    from extract.load import extract_source
    from extract.pii import hmac_key
    from extract.pii_key import fingerprint, hashed_models, record_fingerprint, rotation

    warehouse = resolve(warehouse_url)
    key = fingerprint(hmac_key())
    sources = [s for s in load_manifests().values() if hashed_models(s)]
    results: list[dict[str, Any]] = []
    warehouse_ok = True
    with rotation():
        for source in sources:
            if source.target == "documents":
                done = load_documents(source, hashed_models(source), full_refresh=True)
                if all(r.status == "ok" for r in done):
                    record_document_key(source, key)
            else:
                done = extract_source(source, warehouse, full_refresh=True)
                warehouse_ok = warehouse_ok and all(r.status == "ok" for r in done)
            results += [r.as_dict() for r in done]
    if warehouse_ok and any(s.target == "warehouse" for s in sources):
        record_fingerprint(warehouse, key)
    return results


def grant_stage(warehouse_url: str | None = None) -> str | None:
    """On PostgreSQL, (re)apply the loader/analyst roles before dbt builds; None on DuckDB."""
    warehouse = resolve(warehouse_url)
    if warehouse.kind != "postgres":
        return None
    from transform.grants import grant

    names = [s.name for s in load_manifests(validate_env=False).values() if s.target == "warehouse"]
    report = grant(warehouse, sources=names)
    return f"raw (loader only): {report.raw_schemas}; analyst reads: {report.analyst_schemas}"
