"""The one registry of manifest source ``kind``s: each kind's builder and its extra checks.

Entries name their callables by dotted path and import them only when used, so the
manifest layer can run a kind's checks without importing dlt, and ``extract.rest`` does not
need to register anything on import (no import circle with the loader).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from extract.errors import UnknownValueError

if TYPE_CHECKING:
    from dlt.sources import DltSource

    from extract.manifest.typing import Source
    from extract.manifest.yamlpos import KeyPath

Builder = Callable[["Source", list[str] | None], "DltSource"]
SourceCheck = Callable[["Source"], Iterable[tuple["KeyPath", str]]]


@dataclass(frozen=True)
class SourceKind:
    """How one ``kind`` is built and checked after validation: ``module:function`` paths
    (imported on first use) or the callables themselves."""

    builder: str | Builder
    checks: tuple[str | SourceCheck, ...] = ()


_kinds: dict[str, SourceKind] = {
    "sql": SourceKind("extract.sql:build_sql_source"),
    "rest": SourceKind(
        "extract.rest:build_rest_source", ("extract.rest.checks:check_rest_source",)
    ),
}


def register_source_kind(
    kind: str, builder: str | Builder, checks: tuple[str | SourceCheck, ...] = ()
) -> None:
    """Add (or replace) a source kind: its builder and checks (``module:function`` or callables)."""
    _kinds[kind] = SourceKind(builder, checks)


def _resolve(target: str | Callable[..., Any]) -> Any:
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _kind(kind: str) -> SourceKind:
    if kind not in _kinds:
        raise UnknownValueError("source kind", kind, sorted(_kinds))
    return _kinds[kind]


def builder_for(kind: str) -> Builder:
    """The builder of ``kind`` (imported on first use)."""
    builder: Builder = _resolve(_kind(kind).builder)
    return builder


def checks_for(kind: str) -> list[SourceCheck]:
    """The extra manifest checks of ``kind`` (none for an unknown kind: the schema rejects it)."""
    entry = _kinds.get(kind)
    return [_resolve(target) for target in entry.checks] if entry else []
