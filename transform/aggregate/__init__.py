"""MongoDB aggregation pipelines declared in YAML (``mongo_pipelines/<name>.yml``).

``load_pipelines()`` validates every file, ``run_pipeline(name, params)`` runs one and writes
its outputs (JSON, CSV, warehouse table), ``check_fixture(pipeline)`` runs its ``test``.
The file format is described in ``transform.aggregate.model``.
"""

from __future__ import annotations

from transform.aggregate.model import FixtureTest, Output, Param, Pipeline
from transform.aggregate.outputs import available_formats, register_output_format
from transform.aggregate.run import (
    FixtureResult,
    check_fixture,
    explain_pipeline,
    get_pipeline,
    load_pipelines,
    pipeline_files,
    run_pipeline,
    split_params,
    stages_for,
)
from transform.aggregate.validate import ALLOWED_STAGES, parse_pipeline

__all__ = [
    "ALLOWED_STAGES",
    "FixtureResult",
    "FixtureTest",
    "Output",
    "Param",
    "Pipeline",
    "available_formats",
    "check_fixture",
    "explain_pipeline",
    "get_pipeline",
    "load_pipelines",
    "parse_pipeline",
    "pipeline_files",
    "register_output_format",
    "run_pipeline",
    "split_params",
    "stages_for",
]
