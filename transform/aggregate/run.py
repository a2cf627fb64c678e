"""Find, validate, run, explain and self-test the pipelines of ``mongo_pipelines/``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract import mongo, project
from extract.errors import ConfigError, KspyderError, Problem, UnknownValueError
from transform.aggregate.fields import missing_fields
from transform.aggregate.model import Pipeline
from transform.aggregate.outputs import write_outputs
from transform.aggregate.params import render, resolve
from transform.aggregate.validate import javascript_issues, parse_pipeline

log = logging.getLogger(__name__)


def pipeline_files(directory: Path | None = None) -> list[Path]:
    """Every ``*.yml``/``*.yaml`` pipeline file, sorted (names starting with ``_`` skipped)."""
    folder = directory or project.mongo_pipelines_dir()
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    return [f for f in files if not f.name.startswith("_")]


def load_pipelines(directory: Path | None = None) -> dict[str, Pipeline]:
    """Validate every pipeline file; all problems of all files are raised together."""
    pipelines: dict[str, Pipeline] = {}
    problems: list[Problem] = []
    for path in pipeline_files(directory):
        try:
            pipelines[path.stem] = parse_pipeline(path)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return pipelines


def get_pipeline(name: str, directory: Path | None = None) -> Pipeline:
    """One pipeline by name (only its file is parsed)."""
    files = {f.stem: f for f in pipeline_files(directory)}
    if name not in files:
        raise UnknownValueError("pipeline", name, list(files))
    return parse_pipeline(files[name])


def split_params(
    pipelines: Mapping[str, Pipeline], given: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each pipeline's share of ``given``: the parameters it declares.

    For runs of several pipelines with one ``--param`` set; a parameter that none of them
    declares is an error (a typo, most likely).
    """
    unused = [k for k in given if not any(k in p.params for p in pipelines.values())]
    if unused:
        raise KspyderError(
            f"parameter(s) {', '.join(unused)} not declared by {', '.join(pipelines)}"
        )
    return {n: {k: v for k, v in given.items() if k in p.params} for n, p in pipelines.items()}


def stages_for(pipeline: Pipeline, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The stages with every placeholder replaced by its typed parameter value."""
    stages: list[dict[str, Any]] = render(pipeline.stages, resolve(pipeline, params or {}))
    refused = [msg for _, msg in javascript_issues(stages)]
    if refused:
        raise KspyderError(f"pipeline '{pipeline.name}': {refused[0]}")
    return stages


def run_pipeline(name: str, params: Mapping[str, Any] | None = None) -> list[str]:
    """Run a pipeline on its database and write its outputs; returns where they went.

    ``params`` are text (``--param k=v``) or typed values, checked against the declared types.
    """
    pipeline = get_pipeline(name)
    stages = stages_for(pipeline, params)
    for message in missing_fields(pipeline.database, pipeline.collection, stages):
        log.warning("pipeline '%s': %s", name, message)
    rows = mongo.aggregate(pipeline.database, pipeline.collection, stages)
    return write_outputs(pipeline, rows)


def explain_pipeline(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The server's query plan of a pipeline (a real MongoDB only)."""
    pipeline = get_pipeline(name)
    return mongo.explain(pipeline.database, pipeline.collection, stages_for(pipeline, params))


@dataclass
class FixtureResult:
    """Outcome of a pipeline's ``test``: expected and actual result documents."""

    name: str
    passed: bool
    expected: list[dict[str, Any]] = field(default_factory=list)
    actual: list[dict[str, Any]] = field(default_factory=list)


def check_fixture(pipeline: Pipeline) -> FixtureResult | None:
    """Run the stages over the ``test.fixture`` documents in a scratch database.

    Returns None when the pipeline has no test. Nothing is written to the outputs.
    """
    if pipeline.test is None:
        return None
    stages = stages_for(pipeline, pipeline.test.params)
    with mongo.scratch_database() as db:
        mongo.insert(db, pipeline.collection, pipeline.test.fixture)
        for name, docs in pipeline.test.collections.items():
            mongo.insert(db, name, docs)
        actual = mongo.aggregate(db, pipeline.collection, stages)
    expected = pipeline.test.expected
    return FixtureResult(pipeline.name, actual == expected, expected, actual)
