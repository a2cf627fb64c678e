"""Safe YAML loading that remembers the line of every key path and refuses duplicates.

Only plain YAML types are built (``yaml.SafeLoader``): a ``!!python/object`` tag is an error.
Hostile files end in a ``ConfigError`` naming the file and the line: bytes that are not UTF-8,
control characters, keys that are not plain values, values nested deeper than ``MAX_DEPTH``,
aliases that expand the document beyond ``MAX_ALIAS_VALUES`` values (a "billion laughs"
bomb) or into itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from extract.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]

# Values that aliases may add to a document by repeating anchored ones: far above what a
# manifest or a pipeline needs, far below what keeps validation busy for minutes.
MAX_ALIAS_VALUES = 100_000
MAX_DEPTH = 100  # nesting of mappings and sequences (deeper would exhaust Python's stack)
_WALKING = -1  # size of a node whose walk has not finished (met again: a recursive alias)


class _PosLoader(yaml.SafeLoader):
    """SafeLoader that refuses values nested deeper than ``MAX_DEPTH`` and remembers where
    each sequence item is written (an alias gives the anchored node, marked at the anchor)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.item_marks: dict[tuple[yaml.Node, int], yaml.Mark] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            if self.depth > MAX_DEPTH:
                problem = f"values nested more than {MAX_DEPTH} deep"
                raise yaml.composer.ComposerError(None, None, problem, mark)
            if parent is not None and isinstance(index, int):
                self.item_marks[(parent, index)] = mark
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass
class _Walk:
    """What ``_walk`` records: line and column of each key path, expanded size of each node."""

    file: str
    item_marks: dict[tuple[yaml.Node, int], yaml.Mark]
    lines: dict[KeyPath, int] = field(default_factory=dict)
    columns: dict[KeyPath, int] = field(default_factory=dict)
    sizes: dict[yaml.Node, int] = field(default_factory=dict)
    aliased: int = 0  # values added by aliases, each repeating an anchored node

    def error(self, path: KeyPath, line: int, message: str) -> ConfigError:
        return ConfigError([Problem(self.file, line, _dotted(path), message)])


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path)


def _walk(node: yaml.Node, path: KeyPath, state: _Walk) -> None:
    """Record the key paths under ``node`` and its expanded size, walking each node once.

    A node met again through an alias is not walked again (its key paths are known by the
    alias's own path only), so the work is bounded by the size of the file.
    """
    state.lines.setdefault(path, node.start_mark.line + 1)
    state.columns.setdefault(path, node.start_mark.column)
    state.sizes[node] = _WALKING
    size = 1
    for child_path, mark, child in _children(node, path, state):
        state.lines[child_path] = mark.line + 1
        state.columns[child_path] = mark.column
        known = state.sizes.get(child)
        if known is None:
            _walk(child, child_path, state)
            size += state.sizes[child]
        else:
            size += _alias_size(known, child_path, mark.line + 1, state)
    state.sizes[node] = size


def _children(node: yaml.Node, path: KeyPath, state: _Walk) -> Iterator[tuple[KeyPath, Any, Any]]:
    """(key path, mark of the key or item, value node) of a mapping or sequence node."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield (*path, i), state.item_marks.get((node, i), item.start_mark), item
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "sequence" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise state.error(
                    path,
                    line,
                    f"a key must be a plain string or number, not a {kind} (YAML complex key '? ')",
                )
            key = key_node.value
            if key in seen:
                raise state.error(
                    (*path, key), line, f"duplicate key '{key}' (first at line {seen[key]})"
                )
            seen[key] = line
            yield (*path, key), key_node.start_mark, value_node


def _alias_size(known: int, path: KeyPath, line: int, state: _Walk) -> int:
    """Count the values an alias repeats; refuse recursive aliases and alias bombs."""
    if known == _WALKING:
        raise state.error(
            path, line, "an alias (*name) refers to a value that contains it: refused"
        )
    state.aliased += known
    if state.aliased > MAX_ALIAS_VALUES:
        raise state.error(
            path,
            line,
            f"aliases (*name) expand the file to more than {MAX_ALIAS_VALUES} values: "
            "refused as a YAML alias bomb; write the values out or use fewer aliases",
        )
    return known


def _compose(text: str, file: str) -> tuple[Any, _Walk]:
    loader = _PosLoader(text)
    state = _Walk(file, loader.item_marks)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, state
        _walk(node, (), state)
        return loader.construct_document(node), state
    finally:
        loader.dispose()


def _path_before(text: str, line: int, column: int, file: str) -> KeyPath:
    """The last key path that starts before ``line:column`` of ``text``, if it parses."""
    try:
        _, state = _compose(text, file)
    except (ConfigError, yaml.YAMLError, ValueError):
        return ()
    found: KeyPath = ()
    for path, at in state.lines.items():
        if (at, state.columns[path]) <= (line, column):
            found = path
    return found


def _read_text(path: Path, file: str) -> str:
    """The file as text; bytes that are not UTF-8 are reported at their line and key path."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8", errors="replace"))
        where = _path_before(data.decode("utf-8", errors="replace"), line, column, file)
        message = (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column + 1} cannot be "
            "decoded (save the file as UTF-8)"
        )
        raise ConfigError([Problem(file, line, _dotted(where), message)]) from None


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    """A control character refused by the YAML reader, at its line and key path."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1)
    repaired = yaml.reader.Reader.NON_PRINTABLE.sub(" ", text)
    where = _path_before(repaired, line, column, file)
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    message = f"unacceptable character #x{code:04x} at column {column + 1}: {exc.reason}"
    return Problem(file, line, _dotted(where), message)


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path`` safely; return the data and a map of key path to line number."""
    file = display or str(path)
    text = _read_text(path, file)
    try:
        data, state = _compose(text, file)
    except yaml.reader.ReaderError as exc:  # control characters such as NUL
        raise ConfigError([_reader_problem(exc, text, file)]) from None
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
    return data, state.lines
