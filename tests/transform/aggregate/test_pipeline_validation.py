"""Pipeline files as data: (yaml, expected error) cases, plus the committed schema."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from extract.errors import ConfigError
from extract.project import ROOT
from transform.aggregate import load_pipelines, parse_pipeline, stages_for
from transform.aggregate.model import schema_text

HEAD = """\
description: test pipeline
database: db
collection: things
params:
  region: {type: string, default: null}
  n: {type: int, default: 5}
"""  # six lines: "stages:" is line 7 in the cases below, its first stage line 8

OK_STAGES = 'stages:\n  - $match: {region: "{{ region }}"}\n  - $limit: "{{ n }}"\n'

CASES = [
    (
        'stages:\n  - $match: {region: "{{ region }}"}\n  - $lookupp: {from: x}\n',
        "x.yml:9 stages.1.$lookupp: unknown stage '$lookupp' (did you mean $lookup?); "
        "allowed: $addFields,",
    ),
    ("stages:\n  - $out: other\n", "x.yml:8 stages.0.$out: $out writes to the database"),
    ("stages:\n  - $merge: {into: other}\n", "x.yml:8 stages.0.$merge: $merge writes"),
    (
        "stages:\n  - $match:\n      $where: 'this.a > 1'\n",
        "x.yml:9 stages.0.$match.$where: server-side JavaScript ($where) is refused",
    ),
    (
        "stages:\n  - $addFields:\n      x:\n        $function: {body: 'f', args: [], lang: js}\n",
        "x.yml:10 stages.0.$addFields.x.$function: server-side JavaScript ($function) is refused",
    ),
    (
        "stages:\n  - $facet:\n      a:\n        - $group: {_id: 1, s: {$accumulator: {}}}\n",
        "stages.0.$facet.a.0.$group.s.$accumulator: server-side JavaScript ($accumulator)",
    ),
    (
        'stages:\n  - $match: {region: "{{ regoin }}"}\n',
        "x.yml:8 stages.0.$match.region: unknown parameter 'regoin' (declared: region, n)",
    ),
    (
        'stages:\n  - $project: {path: "$tags.{{ tagg }}"}\n',
        "stages.0.$project.path: unknown parameter 'tagg'",
    ),
    (
        'stages:\n  - $limit: "{{ region }}"\n',
        "x.yml:8 stages.0.$limit: parameter 'region' is string, $limit needs an int",
    ),
    (
        'stages:\n  - $sample: {size: "{{ region }}"}\n',
        "stages.0.$sample.size: parameter 'region' is string, $sample needs an int",
    ),
    (
        'stages:\n  - $project: {"{{ region }}": 1}\n',
        "stages.0.$project.{{ region }}: placeholders are allowed in values only",
    ),
    ("stages:\n  - {$match: {}, $sort: {a: 1}}\n", "x.yml:8 stages.0: a stage is a mapping"),
    ("stages:\n  - $match\n", "x.yml:8 stages.0: a stage is a mapping with exactly one key"),
    ("stages: []\n", "x.yml:7 stages: List should have at least 1 item"),
    ("", "stages: required key is missing"),
    (OK_STAGES + "stage: []\n", "x.yml:10 stage: unknown key 'stage' (allowed: collection,"),
    (OK_STAGES + "name: other\n", "x.yml:10 name: 'other' must match the file name 'x'"),
    (
        OK_STAGES + "outputs:\n  - format: parquet\n",
        "x.yml:11 outputs.0.format: Invalid output format: parquet. "
        "Available options: csv, json, warehouse",
    ),
    (
        OK_STAGES + "outputs:\n  - format: warehouse\n",
        "x.yml:11 outputs.0: a warehouse output needs a table and no path",
    ),
    (
        OK_STAGES + "outputs:\n  - {format: csv, path: ../../etc/x.csv}\n",
        "outputs.0.path: path must be relative to the outputs folder",
    ),
    (
        OK_STAGES + "outputs:\n  - {format: csv, colour: red}\n",
        "outputs.0.colour: unknown key 'colour' (allowed: format, path, table)",
    ),
    (
        OK_STAGES + "test: {params: {n: many}, fixture: [], expected: []}\n",
        "x.yml:10 test.params.n: expected an int, got 'many'",
    ),
    (
        OK_STAGES + "test: {params: {size: 1}, fixture: [], expected: []}\n",
        "test.params.size: unknown parameter 'size'",
    ),
    (
        OK_STAGES + "test: {fixture: [$where: x], expected: []}\n",
        "test.fixture.0.$where: server-side JavaScript ($where) is refused",
    ),
    (OK_STAGES + "test: {fixture: []}\n", "test.expected: required key is missing"),
]

PARAM_CASES = [
    ("  p: {type: int, default: abc}\n", "x.yml:2 params.p.default: expected an int, got 'abc'"),
    ("  p: {type: int, default: 1.5}\n", "params.p.default: expected an int, got 1.5"),
    ("  p: {type: float, default: yes}\n", "params.p.default: expected a float, got True"),
    ("  p: {type: bool, default: maybe}\n", "params.p.default: expected a bool (true/false)"),
    ("  p: {type: date, default: '2025-02-30'}\n", "params.p.default: expected a date (YYYY-"),
    ("  p: {type: date, default: 2025-13-01}\n", "invalid YAML value: month must be in 1..12"),
    ("  p: {type: string, default: 3}\n", "params.p.default: expected a string, got 3"),
    ("  p: {type: integer}\n", "x.yml:2 params.p.type: Input should be 'string', 'int',"),
    (
        "  p: {type: string, default: z, choices: [a, b]}\n",
        "Available options: a, b",
    ),
    ("  p: {type: int, choices: [1, two]}\n", "params.p.choices.1: expected an int, got 'two'"),
    ("  p: {kind: string}\n", "params.p.kind: unknown key 'kind' (allowed: choices, default,"),
    ("  Bad-Name: {type: string}\n", "params.Bad-Name: 'Bad-Name' is not a valid name"),
    (
        "  p: {type: string}\n",
        "test.params: required parameter 'p' is missing",
    ),
]


def _write(folder: Path, text: str) -> Path:
    path = folder / "x.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("stages", "expected"), CASES)
def test_invalid_pipeline(tmp_path: Path, stages: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pipeline(_write(tmp_path, HEAD + stages))
    assert expected in str(info.value)


@pytest.mark.parametrize(("param", "expected"), PARAM_CASES)
def test_invalid_parameter(tmp_path: Path, param: str, expected: str) -> None:
    text = (
        "params:\n"
        + param
        + (
            "description: d\ndatabase: db\ncollection: c\nstages:\n  - $match: {}\n"
            "test: {fixture: [], expected: []}\n"
        )
    )
    with pytest.raises(ConfigError) as info:
        parse_pipeline(_write(tmp_path, text))
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + OK_STAGES + "stages: []\n", "x.yml:10 stages: duplicate key 'stages'"),
        (HEAD + "stages: !!python/object:os.system {}\n", "unsafe or unknown YAML tag refused"),
        ("- just\n- a list\n", "x.yml:1: a pipeline file must be a mapping of keys"),
    ],
)
def test_unsafe_or_malformed_yaml(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pipeline(_write(tmp_path, text))
    assert expected in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = HEAD + 'stages:\n  - $lookupp: {}\n  - $match: {$where: x, a: "{{ nope }}"}\n'
    with pytest.raises(ConfigError) as info:
        parse_pipeline(_write(tmp_path, text))
    keys = [p.key_path for p in info.value.problems]
    assert keys == ["stages.0.$lookupp", "stages.1.$match.$where", "stages.1.$match.a"]


def test_valid_pipeline_and_rendering_does_not_mutate(tmp_path: Path) -> None:
    pipeline = parse_pipeline(_write(tmp_path, HEAD + OK_STAGES))
    before = copy.deepcopy(pipeline.stages)
    assert pipeline.name == "x"
    assert pipeline.params["region"].required is False
    assert stages_for(pipeline, {"n": "7"}) == [{"$match": {"region": None}}, {"$limit": 7}]
    assert stages_for(pipeline, {"region": "westeurope"})[0] == {"$match": {"region": "westeurope"}}
    assert pipeline.stages == before


def test_load_pipelines_collects_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(HEAD + "stages:\n  - $lookupp: {}\n")
    (tmp_path / "b.yml").write_text(HEAD + "stages:\n  - $out: x\n")
    (tmp_path / "c.yml").write_text(HEAD + OK_STAGES)
    (tmp_path / "_draft.yml").write_text("not: [valid")
    with pytest.raises(ConfigError) as info:
        load_pipelines(tmp_path)
    assert [Path(p.file).name for p in info.value.problems] == ["a.yml", "b.yml"]


def test_demo_pipelines_are_valid() -> None:
    pipelines = load_pipelines(ROOT / "mongo_pipelines")
    assert sorted(pipelines) == [
        "cost_by_resource", "cost_by_tag", "nic_disagreements", "routes_by_vnet", "vms_by_option"
    ]  # fmt: skip
    assert all(p.test is not None for p in pipelines.values())


def test_committed_schema_is_up_to_date() -> None:
    committed = (ROOT / "mongo_pipelines" / "pipeline.schema.json").read_text()
    assert committed == schema_text(), "regenerate with transform.aggregate.model.schema_text()"


def test_errors_name_the_repository_relative_file() -> None:
    with pytest.raises(ConfigError) as info:
        parse_pipeline(ROOT / "tests" / "transform" / "aggregate" / "data" / "bad_pipeline.yml")
    assert str(info.value).startswith(
        "tests/transform/aggregate/data/bad_pipeline.yml:6 stages.1.$lookupp:"
    )
