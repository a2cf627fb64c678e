"""The life of a source's dlt load packages between runs (used by ``extract.load``).

Before a model runs, what an earlier run left pending (a crash, a failed load) is finished,
and an extracted package that cannot be normalized is dropped with local state rewound to
where it started, so its rows are extracted again. A model that fails has what it left
pending aborted (state rewound) and half-written packages deleted, so its error never
becomes the next model's.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.exceptions import PipelineStepFailed

from extract.failures import root_message
from extract.secrets import redact

log = logging.getLogger(__name__)


def abort_pending(pipeline: dlt.Pipeline) -> None:
    """Abort what the failed model left pending, rewinding local state (cursors, schema) to
    before its extract, so its error stays its own: left pending, dlt would retry the package
    before every later model and every later run, failing them all with this error."""
    remove_partial_packages(pipeline)
    if not (pipeline.list_extracted_load_packages() or pipeline.list_normalized_load_packages()):
        return
    try:
        pipeline.abort_packages()
    except PipelineStepFailed:  # aborting the package being loaded ends its load in an error
        pass
    log.warning("%s: aborted the failed package; its rows come again", pipeline.pipeline_name)


def remove_partial_packages(pipeline: dlt.Pipeline) -> None:
    """Delete packages a failed or killed extract or normalize was still writing.

    dlt writes an extract into ``normalize/<random id>/`` and a normalize into ``load/new/``
    before moving them on; after a full disk (ENOSPC) or a crash they stay, and the next run
    finds the disk still full. Only called under the source's lock, so nobody writes them.
    """
    working = Path(pipeline.working_dir)
    partial = [p for p in (working / "normalize").glob("*") if p.is_dir() and p.name != "extracted"]
    partial += [p for p in (working / "load" / "new").glob("*") if p.is_dir()]
    for folder in partial:
        shutil.rmtree(folder, ignore_errors=True)
    if partial:
        log.warning("%s: removed %d partial package(s)", pipeline.pipeline_name, len(partial))


def run(pipeline: dlt.Pipeline, data: Any, **options: Any) -> LoadInfo:
    """``pipeline.run``; a package that fails to normalize is dropped, not retried forever."""
    try:
        return pipeline.run(data, **options)
    except PipelineStepFailed as exc:
        if exc.step == "normalize":
            drop_unnormalizable(pipeline, exc)
        raise


def settle_pending(pipeline: dlt.Pipeline) -> Counter[str]:
    """Finish the packages an earlier run left pending, so this run extracts anew; returns
    the rows per table of the extracted packages it normalized and loaded.

    Left pending, dlt's ``run`` would only finish them and skip the new extract. An extracted
    package that cannot be normalized (a crash before its schema was saved, a schema contract
    violation) is dropped: its state never reached the warehouse, so its rows come again.
    """
    settled: Counter[str] = Counter()
    if pipeline.list_extracted_load_packages():
        try:
            info = pipeline.normalize()
            settled.update(info.row_counts if info is not None else {})
        except PipelineStepFailed as exc:
            if not drop_unnormalizable(pipeline, exc):
                raise
            log.warning(
                "%s: dropped pending package %s, which cannot be normalized (%s); its rows "
                "will be extracted again",
                pipeline.pipeline_name,
                exc.load_id,
                redact(root_message(exc)),
            )
    if pipeline.list_normalized_load_packages():
        pipeline.load().raise_on_failed_jobs()
    return settled


def drop_unnormalizable(pipeline: dlt.Pipeline, exc: PipelineStepFailed) -> bool:
    """Drop the extracted package normalize failed on (and newer ones), rewinding local state.

    Packages normalize finished before the failure are loaded first, so only extracted ones
    are left: ``abort_packages`` deletes them and restores the state and schemas saved when
    the oldest was extracted (its cursors included). False when there is nothing to drop.
    """
    if exc.load_id not in pipeline.list_extracted_load_packages():
        return False
    if pipeline.list_normalized_load_packages():
        pipeline.load().raise_on_failed_jobs()
    pipeline.abort_packages()
    return True
