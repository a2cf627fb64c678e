"""Turn a validated manifest into a dlt source, with the builder ``extract.kinds`` names.

Builders return resources named after models; the hints every kind shares (keys, write
disposition, column types, schema contract, extract-time PII) are applied here once.
"""

from __future__ import annotations

from typing import Any

from dlt.sources import DltSource

from extract.depth import depth_guard
from extract.errors import UnknownValueError
from extract.kinds import builder_for
from extract.manifest.typing import Model, Source
from extract.pii import record_transformer


def select_models(source: Source, models: list[str] | None) -> list[str]:
    """Validate a model selection against the manifest (all models when None)."""
    if not models:
        return list(source.models)
    unknown = [m for m in models if m not in source.models]
    if unknown:
        raise UnknownValueError(
            f"model(s) of source '{source.name}'", ", ".join(unknown), list(source.models)
        )
    return list(dict.fromkeys(models))


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
    dlt_source = builder_for(source.kind)(source, selected)
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
        if source.kind == "rest":  # JSON records: nesting is the API's to choose
            resource.add_map(depth_guard(source.name, name))
        transform = record_transformer(model)
        if transform is not None:
            resource.add_map(transform)
    return dlt_source
