"""A nesting limit for records: a hostile or broken API cannot exhaust a recursive walk.

dlt's normalizer, orjson and BSON all recurse into nested values; past their own limits the
error is a bare ``Recursion limit reached``. Records are checked here first (iteratively)
and a model whose record nests deeper than ``MAX_DEPTH`` (MongoDB's own document limit)
fails with the field path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from extract.errors import ExtractError

MAX_DEPTH = 100


def too_deep(record: Any, limit: int = MAX_DEPTH) -> str | None:
    """The dotted path where ``record`` nests deeper than ``limit`` levels, else None."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(record, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            children = [(v, (*path, str(k))) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(v, (*path, f"[{i}]")) for i, v in enumerate(value)]
        else:
            continue
        if len(path) >= limit:
            return ".".join(path).replace(".[", "[")
        stack.extend(c for c in children if isinstance(c[0], dict | list))
    return None


def depth_guard(source: str, model: str, limit: int = MAX_DEPTH) -> Callable[[Any], Any]:
    """A dlt map step that fails the model on a record nested deeper than ``limit``."""

    def check(item: Any) -> Any:
        records = item if isinstance(item, list) else [item]
        for record in records:
            if not isinstance(record, dict):
                continue
            path = too_deep(record, limit)
            if path is not None:
                shown = path if len(path) <= 120 else path[:60] + "..." + path[-40:]
                raise ExtractError(
                    f"source '{source}' model '{model}': a record nests deeper than the "
                    f"limit of {limit} levels (max depth) at field {shown}"
                )
        return item

    return check


def strings(value: Any) -> Iterator[str]:
    """Every string held by a nested value of dicts and lists (values, not keys), in order;
    for manifest and pipeline blocks, which the YAML loader already bounds."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
