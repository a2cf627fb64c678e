"""Typed parameters and ``{{ name }}`` placeholders in pipeline stages.

A string that is exactly ``"{{ name }}"`` becomes the typed value (an int stays an int,
an unset optional parameter becomes null). A placeholder inside a longer string, such as
``"$options.{{ option }}"``, is replaced by the value's text. Keys are never substituted.

A value is a literal: in an aggregation expression (everywhere but ``$match``'s query,
``$expr`` included) a text value starting with ``$`` is wrapped in ``{"$literal": ...}``, so
``--param 'team=$tags.owner_team'`` compares with that text, not with the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

from extract.errors import KspyderError, unknown_value
from extract.manifest.yamlpos import KeyPath
from transform.aggregate.model import Param, Pipeline

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
EXACT = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")
TRUE, FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def placeholders(tree: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str, bool]]:
    """Every placeholder in the values of a tree: (key path, parameter name, exact?)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from placeholders(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from placeholders(value, (*path, i))
    elif isinstance(tree, str):
        exact = EXACT.match(tree) is not None
        for match in PLACEHOLDER.finditer(tree):
            yield path, match.group(1), exact


def coerce(spec: Param, value: Any) -> Any:
    """``value`` (typed, or text from the command line) as the parameter's type.

    Raises ``ValueError`` with a short reason. ``None`` stays ``None`` (unset).
    Dates are checked as ``YYYY-MM-DD`` and kept as that text, as JSON documents hold them.
    """
    if value is None:
        return None
    typed = _convert(spec.type, value)
    if spec.choices is not None and typed not in spec.choices:
        raise ValueError(unknown_value("value", repr(value), spec.choices))
    return typed


def _convert(kind: str, value: Any) -> Any:
    text = isinstance(value, str)
    if kind == "string":
        if not text:
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if text and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise ValueError(f"expected a bool (true/false), got {value!r}")
    if kind == "int":
        return _number(int, "an int", value, allow=(int,))
    if kind == "float":
        return float(_number(float, "a float", value, allow=(int, float)))
    if isinstance(value, dt.datetime):
        raise ValueError(f"expected a date (YYYY-MM-DD), got {value!r}")
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"expected a date (YYYY-MM-DD), got {value!r}") from None


def _number(cast: type[Any], label: str, value: Any, allow: tuple[type, ...]) -> Any:
    if isinstance(value, allow) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return cast(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected {label}, got {value!r}")


def resolve(pipeline: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value: given (coerced) or default; problems raise."""
    unknown = [k for k in given if k not in pipeline.params]
    if unknown:
        declared = ", ".join(pipeline.params) or "none"
        raise KspyderError(
            f"pipeline '{pipeline.name}': unknown parameter(s) {', '.join(unknown)} "
            f"(declared: {declared})"
        )
    values: dict[str, Any] = {}
    for name, spec in pipeline.params.items():
        if name not in given and spec.required:
            raise KspyderError(f"pipeline '{pipeline.name}': parameter '{name}' is required")
        try:
            values[name] = coerce(spec, given[name] if name in given else spec.default)
        except ValueError as exc:
            raise KspyderError(f"pipeline '{pipeline.name}': parameter '{name}': {exc}") from None
    return values


QUERY_KEYS = frozenset({"$match", "$literal"})  # query language, or already a literal
EXPRESSION_KEYS = frozenset({"$expr"})  # an expression again, inside a query


def render(tree: Any, values: Mapping[str, Any], expression: bool = True) -> Any:
    """A copy of ``tree`` with every placeholder replaced (see the module docstring).

    ``expression`` says whether ``tree`` is an aggregation expression, where a string
    starting with ``$`` would be read as a field path.
    """
    if isinstance(tree, dict):
        return {
            key: render(value, values, _context(key, expression)) for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [render(value, values, expression) for value in tree]
    if not isinstance(tree, str):
        return tree
    exact = EXACT.match(tree)
    if exact:
        value = values[exact.group(1)]
        if expression and isinstance(value, str) and value.startswith("$"):
            return {"$literal": value}
        return value
    return PLACEHOLDER.sub(lambda m: _text(m.group(1), values[m.group(1)]), tree)


def _context(key: str, expression: bool) -> bool:
    if key in QUERY_KEYS:
        return False
    if key in EXPRESSION_KEYS:
        return True
    return expression


def _text(name: str, value: Any) -> str:
    if value is None:
        raise KspyderError(f"parameter '{name}' has no value but is used inside a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
