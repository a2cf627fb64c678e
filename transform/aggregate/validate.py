"""Validate one pipeline file: safe YAML -> typed model -> stage, JavaScript and parameter checks.

Every problem reads ``mongo_pipelines/x.yml:12 stages.2.$lookupp: unknown stage ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from extract.errors import ConfigError, Problem
from extract.manifest.loader import display_path
from extract.manifest.yamlpos import KeyPath, load_yaml
from transform.aggregate.model import FixtureTest, Output, Param, ParamType, Pipeline
from transform.aggregate.outputs import available_formats
from transform.aggregate.params import PLACEHOLDER, coerce, placeholders

ALLOWED_STAGES = (
    "$addFields", "$bucket", "$bucketAuto", "$count", "$densify", "$facet", "$fill",
    "$geoNear", "$graphLookup", "$group", "$limit", "$lookup", "$match", "$project",
    "$redact", "$replaceRoot", "$replaceWith", "$sample", "$set", "$setWindowFields",
    "$skip", "$sort", "$sortByCount", "$unionWith", "$unset", "$unwind",
)  # fmt: skip
WRITE_STAGES = ("$out", "$merge")
JAVASCRIPT = ("$where", "$function", "$accumulator")
INT_ARGUMENTS: dict[str, tuple[str, ...]] = {"$limit": (), "$skip": (), "$sample": ("size",)}
Issue = tuple[KeyPath, str]
PARAM_SHAPE = (
    f"{{type: {'|'.join(get_args(ParamType))}, default: ..., choices: [...], description: ...}}"
)
MAPPING_ERRORS = ("dict_type", "model_type", "model_attributes_type")


def stage_issues(stages: Any) -> Iterator[Issue]:
    """Each stage must be a one-key mapping naming an allowed, read-only stage."""
    if not isinstance(stages, list):
        return
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or len(stage) != 1:
            yield ("stages", i), "a stage is a mapping with exactly one key, the stage name"
            continue
        name = str(next(iter(stage)))
        if name in WRITE_STAGES:
            yield ("stages", i, name), f"{name} writes to the database: declare outputs instead"
        elif name not in ALLOWED_STAGES:
            close = difflib.get_close_matches(name, ALLOWED_STAGES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield (
                ("stages", i, name),
                f"unknown stage '{name}'{hint}; allowed: {', '.join(ALLOWED_STAGES)}",
            )


def javascript_issues(tree: Any, path: KeyPath = ()) -> Iterator[Issue]:
    """Server-side JavaScript operators anywhere in the tree are refused."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in JAVASCRIPT:
                yield (*path, key), f"server-side JavaScript ({key}) is refused"
            yield from javascript_issues(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from javascript_issues(value, (*path, i))


def _key_placeholders(tree: Any, path: KeyPath) -> Iterator[Issue]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(key, str) and PLACEHOLDER.search(key):
                yield (*path, key), "placeholders are allowed in values only, not in keys"
            yield from _key_placeholders(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _key_placeholders(value, (*path, i))


def _declared(raw: dict[str, Any]) -> dict[Any, Any] | None:
    """The ``params`` mapping as written ({} when absent); None when it is not a mapping."""
    params = raw.get("params")
    if params is None:
        return {}
    return params if isinstance(params, dict) else None


def _valid_params(raw: Any) -> dict[str, Param]:
    """The parameters that validate on their own (the others are reported by pydantic)."""
    params: dict[str, Param] = {}
    for name, body in (raw if isinstance(raw, dict) else {}).items():
        try:
            params[str(name)] = Param.model_validate(body if body is not None else {})
        except ValidationError:
            continue
    return params


def _param_issues(params: dict[str, Param], raw: dict[str, Any]) -> Iterator[Issue]:
    for name, spec in params.items():
        for i, choice in enumerate(spec.choices or []):
            try:
                coerce(spec.model_copy(update={"choices": None}), choice)
            except ValueError as exc:
                yield ("params", name, "choices", i), str(exc)
        if spec.default is not None:
            try:
                coerce(spec, spec.default)
            except ValueError as exc:
                yield ("params", name, "default"), str(exc)


def _placeholder_issues(params: dict[str, Param], raw: dict[str, Any]) -> Iterator[Issue]:
    stages = raw.get("stages")
    declared = ", ".join(params) or "none"
    written = _declared(raw)  # None: params is not a mapping, reported on its own
    yield from _key_placeholders(stages, ("stages",))
    for path, name, exact in placeholders(stages, ("stages",)):
        spec = params.get(name)
        if spec is None and written is not None and name not in written:
            yield path, f"unknown parameter '{name}' (declared: {declared})"
        elif spec is not None and exact and _needs_int(path) and spec.type != "int":
            yield path, f"parameter '{name}' is {spec.type}, {path[2]} needs an int"


def _needs_int(path: KeyPath) -> bool:
    return len(path) >= 3 and INT_ARGUMENTS.get(str(path[2])) == tuple(str(p) for p in path[3:])


def _output_issues(params: dict[str, Param], raw: dict[str, Any]) -> Iterator[Issue]:
    formats = available_formats()
    outputs = raw.get("outputs")
    for i, output in enumerate(outputs if isinstance(outputs, list) else []):
        kind = output.get("format") if isinstance(output, dict) else None
        if isinstance(kind, str) and kind not in formats:
            yield (
                ("outputs", i, "format"),
                f"Invalid output format: {kind}. Available options: {', '.join(formats)}",
            )


def _test_issues(params: dict[str, Param], raw: dict[str, Any]) -> Iterator[Issue]:
    test = raw.get("test")
    if not isinstance(test, dict):
        return
    given: dict[str, Any] = test["params"] if isinstance(test.get("params"), dict) else {}
    written = _declared(raw)  # None: params is not a mapping, reported on its own
    for name, value in given.items():
        spec = params.get(name)
        if spec is None:
            if written is not None and name not in written:
                yield ("test", "params", name), f"unknown parameter '{name}'"
            continue
        try:
            coerce(spec, value)
        except ValueError as exc:
            yield ("test", "params", name), str(exc)
    for name, spec in params.items():
        if spec.required and name not in given:
            yield ("test", "params"), f"required parameter '{name}' is missing"


def _model_at(loc: KeyPath) -> type[BaseModel] | None:
    """The model class whose keys live at ``loc`` (to list them on an unknown key)."""
    if not loc:
        return Pipeline
    if loc[0] == "params" and len(loc) == 2:
        return Param
    if loc[0] == "outputs" and len(loc) == 2:
        return Output
    if loc == ("test",):
        return FixtureTest
    return None


def _pydantic_issues(exc: ValidationError) -> Iterator[Issue]:
    for err in exc.errors():
        loc: KeyPath = tuple(p for p in err["loc"] if not str(p).startswith("function"))
        if len(loc) >= 2 and loc[0] == "stages" and isinstance(loc[1], int):
            continue  # reported by stage_issues
        kind = err["type"]
        if "[key]" in loc:
            key = loc[loc.index("[key]") - 1]
            yield loc[: loc.index("[key]")], f"'{key}' is not a valid name (a-z, 0-9, _)"
        elif kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = f" (allowed: {', '.join(sorted(model.model_fields))})" if model else ""
            yield loc, f"unknown key '{loc[-1]}'{allowed}"
        elif kind == "missing":
            yield loc, "required key is missing"
        elif kind in MAPPING_ERRORS:
            yield loc, _mapping_message(loc, err.get("input"))
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            shown = err.get("input")
            got = f" (got {shown!r})" if isinstance(shown, str | int | float | bool) else ""
            yield loc, message + got


def _mapping_message(loc: KeyPath, shown: Any) -> str:
    """A mapping was expected at ``loc``: say which shape, and what was written instead."""
    got = f" (got {shown!r})" if isinstance(shown, str | int | float | bool) else ""
    if loc == ("params",):
        return f"expected a mapping of parameter names to {PARAM_SHAPE}{got}"
    if len(loc) == 2 and loc[0] == "params":
        return f"a parameter is a mapping {PARAM_SHAPE}{got}"
    model = _model_at(loc)
    keys = f" with keys {', '.join(sorted(model.model_fields))}" if model else ""
    return f"expected a mapping{keys}{got}"


def _line(lines: dict[KeyPath, int], path: KeyPath) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def parse_pipeline(path: Path) -> Pipeline:
    """Load one pipeline file into a validated ``Pipeline`` or raise ``ConfigError``."""
    file = display_path(path)
    try:
        raw, lines = load_yaml(path, file)
    except ValueError as exc:  # a date-like scalar that is no date (2025-13-01)
        raise ConfigError([Problem(file, 0, "", f"invalid YAML value: {exc}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError([Problem(file, 1, "", "a pipeline file must be a mapping of keys")])
    data = {"name": path.stem, **raw}
    issues: list[Issue] = []
    if data["name"] != path.stem:
        issues.append((("name",), f"'{data['name']}' must match the file name '{path.stem}'"))
    issues += stage_issues(raw.get("stages"))
    issues += javascript_issues(raw)
    pipeline = None
    try:
        pipeline = Pipeline.model_validate(data)
    except ValidationError as exc:
        issues += _pydantic_issues(exc)
    params = _valid_params(raw.get("params"))
    for check in (_param_issues, _placeholder_issues, _output_issues, _test_issues):
        issues += check(params, raw)
    if issues or pipeline is None:
        problems = [
            Problem(file, _line(lines, p), ".".join(str(k) for k in p), m) for p, m in issues
        ]
        raise ConfigError(sorted(problems, key=lambda p: p.line))
    return pipeline
