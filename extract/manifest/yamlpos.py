"""Safe YAML loading that remembers the line of every key path and refuses duplicates.

Only plain YAML types are built (``yaml.SafeLoader``): a ``!!python/object`` tag is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from extract.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]


class _PosLoader(yaml.SafeLoader):
    """SafeLoader that records ``key path -> line`` while composing the node tree."""


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    [
                        Problem(
                            file,
                            line,
                            ".".join(str(p) for p in (*path, key)),
                            f"duplicate key '{key}' (first at line {seen[key]})",
                        )
                    ]
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, file)


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path`` safely; return the data and a map of key path to line number."""
    file = display or str(path)
    text = path.read_text(encoding="utf-8")
    try:
        loader = _PosLoader(text)
        try:
            node = loader.get_single_node()
            lines: dict[KeyPath, int] = {}
            if node is None:
                return None, lines
            _walk(node, (), lines, file)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(
            [Problem(file, line, "", f"unsafe or unknown YAML tag refused: {exc.problem}")]
        ) from None
    except ValueError as exc:  # a value YAML recognises but cannot build, e.g. 2025-13-01
        raise ConfigError([Problem(file, 0, "", f"invalid YAML value: {exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(file, line, "", f"YAML syntax error: {problem}")]) from None
    return data, lines
