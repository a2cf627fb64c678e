"""Drop a source's warehouse schema and dlt's local state: everything is expendable."""

from __future__ import annotations

import shutil

import dlt

from extract import project
from extract.locks import source_lock
from extract.manifest.typing import Source
from extract.warehouse import Warehouse


def drop_source(source: Source, warehouse: Warehouse) -> None:
    """Drop the source's schema (with dlt's bookkeeping tables) and its local pipeline."""
    name = project.pipeline_name(source.name)
    with source_lock(source.name):
        _drop(source, warehouse, name)


def _drop(source: Source, warehouse: Warehouse, name: str) -> None:
    pipeline = dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(project.pipelines_dir()),
        destination=warehouse.destination(),
        dataset_name=source.name,
    )
    with pipeline.sql_client() as client:
        if client.has_dataset():
            client.drop_dataset()
    shutil.rmtree(project.pipelines_dir() / name, ignore_errors=True)
