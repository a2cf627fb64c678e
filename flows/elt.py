"""Prefect flows: the full ``elt`` run and the one-shot activities, as thin wrappers.

The work itself is in ``flows.stages`` (plain functions); tasks here add retries,
timeouts, concurrency and logging. Tasks exchange references and counts, never rows.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import task_run
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from extract.errors import KspyderError
from extract.load import load_units
from extract.locks import SourceBusy
from extract.manifest.loader import load_manifests
from extract.pii_key import KeyMismatch
from extract.secrets import install_log_redaction
from extract.sources import select_models
from extract.status import is_failure
from extract.warehouse import resolve
from flows import stages
from flows.summary import RunSummary, markdown, write_ledger

NETWORK_RETRIES = 2
RETRY_DELAYS: list[float] = [5.0, 30.0]
FLOW_TIMEOUT_S = 12 * 3600  # the flow runs in the main thread: this one can interrupt


class RunFailed(KspyderError):
    """A run where a model, dbt or an aggregation failed: the flow ends in a Failed state.

    Raised after the summary artifact and the ledger rows are written; carries the summary.
    """

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        failures = summary.get("failures") or ["failed"]
        super().__init__(f"{len(failures)} failure(s), first: {failures[0]}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.summary,))


class StageFailed(KspyderError):
    """dbt or an aggregation ran and failed: the task ends Failed, carrying its result."""

    def __init__(self, result: dict[str, Any], what: str) -> None:
        self.result, self.what = result, what
        detail = result.get("error") or "; ".join(result.get("failures", [])[:3])
        super().__init__(f"{what} failed: {detail or result.get('status')}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.result, self.what))


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task unless it failed on its own merits (dbt ran and a test failed, the
    source is busy with another run: waiting again would not help)."""
    try:
        state.result()
    except StageFailed:
        return False
    except ModelsFailed as exc:
        return exc.retriable
    except Exception:  # noqa: BLE001 (anything else may be transient: retry)
        return True
    return True


class ModelsFailed(KspyderError):
    """Some models of a unit failed; carries every model's result for the summary."""

    def __init__(self, results: list[dict[str, Any]], retriable: bool = True) -> None:
        self.results, self.retriable = results, retriable
        failed = [
            f"{r['source']}.{r['model']}: {r['error']}" for r in results if is_failure(r["status"])
        ]
        super().__init__("; ".join(failed))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.results, self.retriable))


@task(
    name="extract-unit",
    retries=NETWORK_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    # no task timeout: it runs in a worker thread, where Prefect cannot interrupt it; REST
    # requests carry their own timeout (manifest `timeout`) and the flow has one
    task_run_name="extract-{source_name}-{models}",
    retry_condition_fn=_transient,
)
def extract_unit(
    source_name: str, models: list[str], full_refresh: bool, warehouse_url: str | None
) -> Any:
    """Extract and load models loaded together; raises (so Prefect retries) if one failed.

    A source busy with another run (or loaded with another HMAC key) ends the task Failed
    with one line, not retried.
    """
    try:
        results = stages.extract_stage(source_name, models, full_refresh, warehouse_url)
    except (SourceBusy, KeyMismatch) as exc:
        failed = [_failed_row(source_name, m, str(exc)) for m in models]
        return Failed(message=str(exc), data=ModelsFailed(failed, retriable=False))
    earlier_attempts = max(task_run.run_count - 1, 0)  # Prefect retries of this unit
    for r in results:
        r["retries"] = r.get("retries", 0) + earlier_attempts
    if any(is_failure(r["status"]) for r in results):
        raise ModelsFailed(results)
    return results


def _failed_row(source: str, model: str, error: str) -> dict[str, Any]:
    return {
        "source": source,
        "model": model,
        "status": "failed",
        "rows": 0,
        "duration_s": 0.0,
        "error": error,
    }


@task(name="extract-source", task_run_name="extract-{source_name}")
def extract_source_task(
    source_name: str, full_refresh: bool, warehouse_url: str | None, retries: int
) -> list[dict[str, Any]]:
    """All models of a source, unit by unit; a failed unit does not stop the next one."""
    logger = get_run_logger()
    source = load_manifests(only=[source_name])[source_name]
    results: list[dict[str, Any]] = []
    unit_task = extract_unit.with_options(retries=retries)
    for unit in load_units(source, select_models(source, None)):
        state = unit_task(source_name, unit, full_refresh, warehouse_url, return_state=True)
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, ModelsFailed):
            done = outcome.results
        elif isinstance(outcome, BaseException) or not state.is_completed():
            error = str(outcome) if isinstance(outcome, BaseException) else str(state.message)
            done = [_failed_row(source_name, m, error) for m in unit]  # connection, config
        else:
            done = cast(list[dict[str, Any]], outcome)
        for r in done:
            logger.info(
                "extract %s.%s: %s, %s rows in %.1fs",
                r["source"],
                r["model"],
                r["status"],
                r["rows"],
                r["duration_s"],
            )
        results += done
    return results


@task(name="warehouse-grant", retries=1, retry_delay_seconds=10)
def grant_task(warehouse_url: str | None) -> str | None:
    """PostgreSQL roles: the loader owns raw schemas, the analyst reads staging and marts."""
    report = stages.grant_stage(warehouse_url)
    if report:
        get_run_logger().info("grants: %s", report)
    return report


@task(
    name="dbt-build",
    retries=1,
    retry_delay_seconds=10,
    timeout_seconds=3 * 3600,
    retry_condition_fn=_transient,
)
def transform_task(
    select: list[str] | None, warehouse_url: str | None, full_refresh: bool
) -> dict[str, Any]:
    """``dbt build`` on the warehouse; a failed build fails the task (not retried)."""
    result = stages.transform_stage(select, warehouse_url, full_refresh)
    get_run_logger().info(
        "dbt build: %s, %s models, %s tests passed, %s failed",
        result["status"],
        result["models_built"],
        result["tests_passed"],
        result["tests_failed"],
    )
    if result["status"] != "ok":
        raise StageFailed(result, "dbt build")
    return result


@task(name="aggregate", retries=1, retry_delay_seconds=5, task_run_name="aggregate-{name}")
def aggregate_task(name: str, params: dict[str, str] | None) -> dict[str, Any]:
    """One Mongo aggregation pipeline and its outputs; a failed one fails the task."""
    result = stages.aggregate_stage(name, params)
    get_run_logger().info("aggregate %s: %s -> %s", name, result["status"], result["outputs"])
    if result["status"] != "ok":
        raise StageFailed(result, f"aggregation {name}")
    return result


@task(name="report")
def report_task() -> dict[str, Any]:
    """The static HTML report of the cloud estate, after the aggregations."""
    result = stages.report_stage()
    get_run_logger().info("report: %s -> %s", result["status"], result["path"])
    return result


@task(name="summary")
def summary_task(summary: RunSummary, warehouse_url: str | None) -> dict[str, Any]:
    """Record the summary as a Prefect artifact and in the warehouse ledger."""
    create_markdown_artifact(
        key="kspyder-run-summary", markdown=markdown(summary), description="kspyder run summary"
    )
    written = write_ledger(summary, resolve(warehouse_url))
    get_run_logger().info("ledger: %s rows appended to kspyder_meta._kspyder_runs", written)
    return summary.as_dict()


@flow(
    name="elt",
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
    log_prints=True,
    timeout_seconds=FLOW_TIMEOUT_S,
)
def elt(
    sources: list[str] | None = None,
    full_refresh: bool = False,
    dbt_select: list[str] | None = None,
    pipelines: list[str] | None = None,
    warehouse_url: str | None = None,
    skip_transform: bool = False,
    skip_aggregate: bool = False,
    retries: int = NETWORK_RETRIES,
    params: dict[str, str] | None = None,
) -> Any:  # the summary dict, or a Failed state (calling elt() raises RunFailed)
    """Extract every source (concurrently), then dbt build, then aggregations and the report,
    then summary.

    ``sources`` narrows dbt to ``source:<name>+`` and the aggregations to the pipelines
    reading those sources' databases (unless ``dbt_select``/``pipelines`` say otherwise).
    Ends in a Failed state (``RunFailed``) when anything failed, after the summary.
    """
    install_log_redaction()  # also when a worker runs the flow without the CLI
    summary = RunSummary(run_id=uuid.uuid4().hex[:12])
    names = stages.source_names(sources)
    if len(names) > 1:
        stages.preload_modules()
    futures = [
        extract_source_task.submit(name, full_refresh, warehouse_url, retries) for name in names
    ]
    for future in futures:
        summary.models += future.result()
    if sources and dbt_select is None:
        dbt_select = stages.dbt_selection(names)
        skip_transform = skip_transform or not dbt_select
    if sources and pipelines is None:
        pipelines = stages.pipelines_reading(names)
        skip_aggregate = skip_aggregate or not pipelines
    if not skip_transform:
        summary.transform = _transform(dbt_select, warehouse_url, full_refresh)
    if not skip_aggregate:
        shares = stages.pipeline_params(stages.pipeline_names(pipelines), params or {})
        agg = [aggregate_task.submit(n, p) for n, p in shares.items()]
        summary.aggregates = [_aggregate_result(n, f) for n, f in zip(shares, agg, strict=True)]
        summary.report = report_task()
    summary.finish()
    result = summary_task(summary, warehouse_url)
    if not summary.ok:  # a Failed state for Prefect; calling elt() raises RunFailed
        return Failed(message=summary.failures[0][:500], data=RunFailed(result))
    return result


def _transform(
    select: list[str] | None, warehouse_url: str | None, full_refresh: bool
) -> dict[str, Any]:
    """Grants then dbt build; a failure becomes the failed result the summary reports."""
    try:
        grant_task(warehouse_url)
        return transform_task(select, warehouse_url, full_refresh)
    except StageFailed as exc:
        return exc.result
    except Exception as exc:  # noqa: BLE001 (reported in the summary; the run fails)
        return stages.TransformResult(status="failed", failures=[str(exc)]).as_dict()


def _aggregate_result(name: str, future: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = future.result()
    except StageFailed as exc:
        return exc.result
    except Exception as exc:  # noqa: BLE001 (reported in the summary; the run fails)
        return stages.AggregateResult(name, "failed", error=str(exc)).as_dict()
    return result


@flow(name="extract-source")
def extract_flow(
    source: str, full_refresh: bool = False, warehouse_url: str | None = None
) -> Any:  # the results, or a Failed state
    """One source alone (what a per-source schedule runs); Failed when a model failed."""
    results = extract_source_task(source, full_refresh, warehouse_url, NETWORK_RETRIES)
    failed = [f"extract {r['source']}.{r['model']}: {r['error']}" for r in results]
    failed = [f for f, r in zip(failed, results, strict=True) if r["status"] != "ok"]
    if failed:
        return Failed(
            message=failed[0][:500], data=RunFailed({"models": results, "failures": failed})
        )
    return results


@flow(name="transform")
def transform_flow(
    select: list[str] | None = None, warehouse_url: str | None = None, full_refresh: bool = False
) -> dict[str, Any]:
    """dbt build alone (Failed when the build failed)."""
    return transform_task(select, warehouse_url, full_refresh)


@flow(name="aggregate")
def aggregate_flow(
    pipelines: list[str] | None = None, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The aggregation pipelines alone."""
    shares = stages.pipeline_params(stages.pipeline_names(pipelines), params or {})
    return [aggregate_task(n, p) for n, p in shares.items()]


@flow(name="rebuild")
def rebuild_flow(sources: list[str] | None = None, warehouse_url: str | None = None) -> Any:
    """Drop and reload sources from scratch, then rebuild dbt models (elt's final state)."""
    from extract.rebuild import drop_source

    for name, source in load_manifests(only=sources or None).items():
        drop_source(source, resolve(warehouse_url))  # documents: the MongoDB database
        get_run_logger().info("dropped %s", name)
    return elt.fn(sources=sources, full_refresh=True, warehouse_url=warehouse_url)
