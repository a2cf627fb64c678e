"""Turn a validated manifest into a dlt source: a registry of builders per ``kind``.

Builders return resources named after models; the hints every kind shares (keys, write
disposition, column types, schema contract, extract-time PII) are applied here once.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from dlt.sources import DltSource

from extract.errors import KspyderError
from extract.manifest.typing import Model, Source
from extract.pii import record_transformer

Builder = Callable[[Source, list[str] | None], DltSource]
_builders: dict[str, Builder] = {}


def register_source_kind(kind: str, builder: Builder) -> None:
    """Register the builder of a manifest ``kind``."""
    _builders[kind] = builder


def _builder(kind: str) -> Builder:
    if not _builders:
        _register_defaults()
    if kind not in _builders:
        raise KspyderError(
            f"Invalid source kind: {kind}. Available options: {', '.join(sorted(_builders))}"
        )
    return _builders[kind]


def _register_defaults() -> None:
    """The built-in kinds, each imported when a source of that kind is built: a SQL run
    does not pay for the REST engine's imports (requests, ~0.1-0.3 s), nor REST for SQL's."""

    def sql(source: Source, models: list[str] | None) -> DltSource:
        from extract.sql import build_sql_source

        return build_sql_source(source, models)

    def rest(source: Source, models: list[str] | None) -> DltSource:
        from extract.rest import build_rest_source  # type: ignore[attr-defined,unused-ignore]

        return build_rest_source(source, models)  # type: ignore[no-any-return,unused-ignore]

    register_source_kind("sql", sql)
    if importlib.util.find_spec("extract.rest") is not None:  # optional in SQL-only installs
        register_source_kind("rest", rest)


def select_models(source: Source, models: list[str] | None) -> list[str]:
    """Validate a model selection against the manifest (all models when None)."""
    if not models:
        return list(source.models)
    unknown = [m for m in models if m not in source.models]
    if unknown:
        raise KspyderError(
            f"unknown model(s) {', '.join(unknown)} in source '{source.name}'; "
            f"available: {', '.join(source.models)}"
        )
    return list(models)


def _column_hints(model: Model) -> dict[str, dict[str, Any]]:
    hints: dict[str, dict[str, Any]] = {}
    for name, col in model.columns.items():
        if col.pii == "drop" or col.path:
            continue
        hint: dict[str, Any] = {"name": name}
        if col.type:
            hint["data_type"] = col.type
        if col.nullable is not None:
            hint["nullable"] = col.nullable
        if col.pii == "hash":
            hint["data_type"] = "text"
        if len(hint) > 1:
            hints[name] = hint
    return hints


def build_source(source: Source, models: list[str] | None = None) -> DltSource:
    """The dlt source of a manifest, with shared hints and extract-time PII applied."""
    selected = select_models(source, models)
    dlt_source = _builder(source.kind)(source, selected)
    contract = {"tables": "evolve", "columns": source.schema_contract}
    if source.schema_contract in ("freeze", "discard_row", "discard_value"):
        contract["data_type"] = source.schema_contract
    for name in selected:
        model = source.models[name]
        resource = dlt_source.resources[name]
        resource.apply_hints(
            primary_key=model.primary_key or None,
            write_disposition=model.write_disposition,
            columns=_column_hints(model) or None,  # type: ignore[arg-type]
            schema_contract=contract,  # type: ignore[arg-type]
        )
        transform = record_transformer(model)
        if transform is not None:
            resource.add_map(transform)
    return dlt_source
