"""``kspyder rebuild``: a true reset of a source, everything in it being expendable.

Warehouse sources lose their raw schema, dlt's ``<source>_staging`` schema (merge loads),
the pending load packages and the local pipeline state; an unreadable DuckDB file is set
aside first. Document sources lose their MongoDB database (with its incremental state).
The caller then loads the source again.
"""

from __future__ import annotations

import logging
import shutil

import dlt

from extract import project
from extract.locks import source_lock
from extract.manifest.typing import Source
from extract.warehouse import Warehouse

log = logging.getLogger(__name__)


def drop_source(source: Source, warehouse: Warehouse) -> None:
    """Drop everything the source left in its destination and in local state."""
    with source_lock(source.name):
        _drop_local(source)
        if source.target == "documents":
            _drop_documents(source)
        elif warehouse.kind != "files":
            _drop_datasets(source, warehouse)
        _drop_local(source)


def _drop_local(source: Source) -> None:
    """The local pipelines (state, schemas, pending and completed packages) of the source."""
    name = project.pipeline_name(source.name)
    for folder in (name, f"{name}_files"):
        shutil.rmtree(project.pipelines_dir() / folder, ignore_errors=True)


def _drop_datasets(source: Source, warehouse: Warehouse) -> None:
    aside = warehouse.set_aside()
    if aside is not None:
        log.warning("unreadable warehouse %s set aside as %s", warehouse.location, aside)
    pipeline = dlt.pipeline(
        pipeline_name=project.pipeline_name(source.name),
        pipelines_dir=str(project.pipelines_dir()),
        destination=warehouse.destination(),
        dataset_name=source.name,
    )
    with pipeline.sql_client() as client:
        if client.has_dataset():
            client.drop_dataset()
        with client.with_staging_dataset():
            if client.has_dataset():
                client.drop_dataset()


def _drop_documents(source: Source) -> None:
    from extract.documents import drop_documents

    drop_documents(source)
