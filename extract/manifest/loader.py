"""Load and validate manifests: safe YAML -> short forms expanded -> ``${ENV}`` -> typed models.

Every problem is reported as ``file:line key.path: message`` with the allowed values.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from extract import project
from extract.errors import ConfigError, MissingEnv, Problem, unknown_value
from extract.kinds import checks_for
from extract.manifest import paginator_types
from extract.manifest.env import expand
from extract.manifest.typing import SQL_IDENTIFIER, Source
from extract.manifest.yamlpos import KeyPath, load_yaml
from extract.secrets import (
    CREDENTIAL_BLOCKS,
    ENV_REF,
    SECRET_KEYS,
    URL_KEYS,
    is_credential_name,
    quote_url_password,
    register_secret,
    url_passwords,
)

UNSAFE_IDENTIFIER = (
    "is not a safe SQL identifier (lowercase letters, digits and _, "
    "starting with a letter or _, at most 63 characters)"
)
BARE_NAMES_ONLY = (
    "a list of models holds bare names only; to configure a model, write models as a "
    "mapping (models: {name: {...}})"
)


def display_path(path: Path) -> str:
    """Path relative to the repo root when possible, as errors show it."""
    try:
        return str(path.resolve().relative_to(project.ROOT))
    except ValueError:
        return str(path)


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path)


def _line(lines: dict[KeyPath, int], path: KeyPath) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return override


def _expand_short_forms(raw: dict[str, Any], stem: str) -> dict[str, Any]:
    """Fill the source name, model names and defaults; expand short column/paginator forms."""
    data = copy.deepcopy(raw)
    data.setdefault("name", stem)
    defaults = data.get("defaults") or {}
    models = data.get("models")
    if isinstance(models, list):  # a bare list of model names (others: _model_list_issues)
        models = {m: None for m in models if isinstance(m, str)}
    if isinstance(models, dict):
        expanded: dict[str, Any] = {}
        for name, model in models.items():
            body = model if isinstance(model, dict) else {}
            if isinstance(defaults, dict):
                body = _deep_merge(copy.deepcopy(defaults), body)
            body.setdefault("name", name)
            _expand_columns(body)
            _expand_paginator(body.get("endpoint"))
            expanded[str(name)] = body
        data["models"] = expanded
    if isinstance(data.get("client"), dict):
        _expand_paginator(data["client"])
    if isinstance(defaults, dict):
        _expand_columns(defaults)
    return data


def _model_list_issues(raw: dict[str, Any]) -> Iterable[tuple[KeyPath, str]]:
    """Entries of a bare list of models that are not model names, or repeat one."""
    models = raw.get("models")
    first: dict[str, int] = {}
    for i, name in enumerate(models if isinstance(models, list) else []):
        if isinstance(name, dict | list):
            yield ("models", i), BARE_NAMES_ONLY
        elif not isinstance(name, str):
            yield ("models", i), f"a model name must be a string, got {name!r}"
        elif name in first:
            yield ("models", i), f"duplicate model '{name}' (also models.{first[name]})"
        else:
            first[name] = i


def _expand_columns(body: dict[str, Any]) -> None:
    columns = body.get("columns")
    if isinstance(columns, dict):
        body["columns"] = {
            name: {"pii": col} if isinstance(col, str) else ({} if col is None else col)
            for name, col in columns.items()
        }
    key = body.get("primary_key")
    if isinstance(key, str):
        body["primary_key"] = [key]


def _expand_paginator(holder: Any) -> None:
    if isinstance(holder, dict) and isinstance(holder.get("paginator"), str):
        holder["paginator"] = {"type": holder["paginator"]}


def _credential(path: KeyPath, key: object) -> bool:
    """A request header or parameter whose name says it carries a credential."""
    return bool(path) and path[-1] in CREDENTIAL_BLOCKS and is_credential_name(key)


def _literal_secrets(raw: Any, path: KeyPath = ()) -> Iterable[tuple[KeyPath, str]]:
    """Secret values written literally in YAML (they must be ``${ENV}`` references)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            sub = (*path, key)
            if isinstance(value, str) and key in SECRET_KEYS and not ENV_REF.search(value):
                yield sub, "secret values must be ${ENV_VAR} references, not literals"
            elif isinstance(value, str) and _credential(path, key) and not ENV_REF.search(value):
                yield (
                    sub,
                    (
                        f"'{key}' carries a credential: its value must be a ${{ENV_VAR}} "
                        "reference, not a literal"
                    ),
                )
            elif isinstance(value, str) and key in URL_KEYS:
                if any(not ENV_REF.fullmatch(pw) for pw in url_passwords(value)):
                    yield sub, "a password in a URL must be a ${ENV_VAR} reference"
            else:
                yield from _literal_secrets(value, sub)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            yield from _literal_secrets(value, (*path, i))


def _expand_env(data: Any, path: KeyPath, problems: list[tuple[KeyPath, str]]) -> Any:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(value, str):
                try:
                    secret = str(key) in SECRET_KEYS or _credential(path, key)
                    out[key] = expand(value, secret=secret)
                except MissingEnv as exc:
                    problems.append(((*path, key), str(exc)))
                    out[key] = value
                if key in URL_KEYS:
                    for password in url_passwords(out[key]):
                        register_secret(password)
                    out[key] = quote_url_password(out[key])
            else:
                out[key] = _expand_env(value, (*path, key), problems)
        return out
    if isinstance(data, list):
        return [_expand_env(v, (*path, i), problems) for i, v in enumerate(data)]
    return data


def _raw_value(raw: Any, path: KeyPath) -> Any:
    node = raw
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _field_model(cls: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found at ``loc`` (to list its allowed keys)."""
    current: Any = cls
    for part in loc:
        if (member := paginator_types.model_for(part)) is not None:
            current = member  # the tagged union's member, not its first one
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = current.model_fields
        by_alias = {f.alias or n: f for n, f in fields.items()}
        field = fields.get(str(part)) or by_alias.get(str(part))
        if field is None:
            continue  # a dict key such as a model name
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg)
        if inner is not None and isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _message(err: Any, raw: Any, loc: KeyPath) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    shown = _raw_value(raw, loc)
    if shown is None and loc and str(loc[-1]) not in SECRET_KEYS:
        shown = err.get("input")  # a value produced by a short form (``email: hash``)
    value = repr(shown) if isinstance(shown, str | int | float | bool) else "value"
    if kind == "literal_error":
        allowed = re.sub(r"'([^']*)'", r"\1", str(ctx.get("expected", ""))).replace(" or ", ", ")
        return unknown_value(str(loc[-1]) if loc else "value", value, allowed.split(", "))
    if kind == "extra_forbidden":
        parent = _field_model(Source, tuple(err["loc"])[:-1])  # union tags pick the member
        allowed = ", ".join(sorted(parent.model_fields)) if parent else ""
        return f"unknown key '{loc[-1]}'" + (f" (allowed: {allowed})" if allowed else "")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == SQL_IDENTIFIER:
        return f"{value} {UNSAFE_IDENTIFIER}"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{msg} (got {value})" if shown is not None and kind != "value_error" else msg


def _loc(loc: tuple[Any, ...]) -> KeyPath:
    # pydantic adds the union member / function names to loc for tagged parts; keep keys only
    return tuple(
        p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function")))
    )


def parse_source(path: Path, validate_env: bool = True) -> Source:
    """Load one manifest file into a validated ``Source`` or raise ``ConfigError``.

    ``validate_env=False`` tolerates unset ``${ENV}`` references (for commands that only
    read the structure, such as generating deployments or dbt sources).
    """
    file = display_path(path)
    raw, lines = load_yaml(path, file)
    if not isinstance(raw, dict):
        raise ConfigError([Problem(file, 1, "", "a manifest must be a mapping of keys")])
    issues = [*_literal_secrets(raw), *_model_list_issues(raw)]
    data = _expand_short_forms(raw, path.stem)
    env_issues: list[tuple[KeyPath, str]] = []
    data = _expand_env(data, (), env_issues)
    if validate_env:
        issues += env_issues
    if data.get("name") != path.stem and isinstance(data.get("name"), str):
        issues.append((("name",), f"'{data['name']}' must match the file name '{path.stem}'"))
    problems = [Problem(file, _line(lines, p), _dotted(p), m) for p, m in issues]
    try:
        source = Source.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            full = tuple(err["loc"])
            loc = _loc(full)
            if err["type"] == "missing_for_kind":  # reported at the missing key, line of kind
                key = (*loc, (err.get("ctx") or {})["key"])
                message = str(err["msg"])
                problems.append(Problem(file, _line(lines, (*loc, "kind")), _dotted(key), message))
                continue
            if loc and loc[-1] == "name" and _raw_value(raw, loc) is None and len(loc) > 1:
                continue  # an injected model name: the key itself is reported
            if "[key]" in full:
                message = f"{loc[-1]!r} {UNSAFE_IDENTIFIER}"
                problems.append(Problem(file, _line(lines, loc), _dotted(loc), message))
                continue
            problems.append(Problem(file, _line(lines, loc), _dotted(loc), _message(err, raw, loc)))
        raise ConfigError(problems) from None
    for check in (_reference_problems, *checks_for(source.kind)):
        for loc, msg in check(source):
            problems.append(Problem(file, _line(lines, loc), _dotted(loc), msg))
    if problems:
        raise ConfigError(problems)
    return source


def _reference_problems(source: Source) -> Iterable[tuple[KeyPath, str]]:
    """``columns.<c>.references`` must name a model of this source (and, without a column,
    one whose primary key is a single column)."""
    for name, model in source.models.items():
        for column, spec in model.columns.items():
            if spec.references is None:
                continue
            loc = ("models", name, "columns", column, "references")
            target, _, field = spec.references.partition(".")
            if target not in source.models:
                yield loc, unknown_value("model", target, list(source.models))
            elif not field and len(source.models[target].primary_key) != 1:
                hint = f"write references: {target}.<column>"
                yield loc, f"model '{target}' has no single-column primary_key: {hint}"


def missing_env(directory: Path | None = None) -> list[Problem]:
    """``${ENV}`` references without default whose variable is unset: what a run will need.

    Not a structural problem (``kspyder validate`` passes on a fresh clone without
    secrets); ``kspyder validate --strict`` and every run treat them as errors.
    """
    found: list[Problem] = []
    for path in manifest_files(directory):
        file = display_path(path)
        raw, lines = load_yaml(path, file)
        if not isinstance(raw, dict):
            continue
        issues: list[tuple[KeyPath, str]] = []
        _expand_env(_expand_short_forms(raw, path.stem), (), issues)
        found += [Problem(file, _line(lines, p), _dotted(p), m) for p, m in issues]
    return found


def manifest_files(directory: Path | None = None) -> list[Path]:
    """Every ``*.yml``/``*.yaml`` manifest in the folder, sorted (overlays excluded)."""
    folder = directory or project.manifests_dir()
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    return [f for f in files if not f.name.startswith("_")]


def load_manifests(
    directory: Path | None = None,
    only: Iterable[str] | None = None,
    validate_env: bool = True,
) -> dict[str, Source]:
    """Load every manifest; collect all problems across files before raising."""
    sources: dict[str, Source] = {}
    where: dict[str, str] = {}
    problems: list[Problem] = []
    files = manifest_files(directory)
    wanted = list(only or [])
    if wanted:  # parse only what was asked for: another source's missing secret is not our error
        unknown = [s for s in wanted if s not in {f.stem for f in files}]
        if unknown:
            folder = display_path(directory or project.manifests_dir())
            available = ", ".join(sorted(f.stem for f in files)) or "none"
            raise ConfigError(
                [
                    Problem(
                        folder,
                        0,
                        "",
                        unknown_value("source(s)", ", ".join(unknown), available.split(", ")),
                    )
                ]
            )
        files = [f for f in files if f.stem in wanted]
    for path in files:
        try:
            source = parse_source(path, validate_env)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if source.name in sources:
            problems.append(
                Problem(
                    display_path(path),
                    1,
                    "name",
                    f"duplicate source '{source.name}' (also in {where[source.name]})",
                )
            )
        sources[source.name] = source
        where[source.name] = display_path(path)
    if problems:
        raise ConfigError(problems)
    if wanted:
        return {s: sources[s] for s in wanted}
    return sources
