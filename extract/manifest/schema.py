"""Export the manifest schema as JSON Schema (committed as ``manifests/manifest.schema.json``)."""

from __future__ import annotations

import json
from typing import Any, get_args

from extract.manifest.paginator_types import STYLES
from extract.manifest.typing import PiiStrategy, Source


def _no_name(schema: dict[str, Any]) -> None:
    """Names come from the file name and the ``models`` keys: not required in YAML."""
    for definition in [schema, *schema.get("$defs", {}).values()]:
        req = definition.get("required")
        if req and "name" in req:
            req.remove("name")
            if not req:
                del definition["required"]


def _or(node: dict[str, Any], *alternatives: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [node, *alternatives]}


def _short_forms(schema: dict[str, Any]) -> None:
    """The short forms the loader expands (``extract.manifest.loader``), so that an editor
    validating with this schema accepts every manifest kspyder accepts."""
    strategy = {"enum": list(get_args(PiiStrategy))}
    for definition in [schema, *schema.get("$defs", {}).values()]:
        props = definition.get("properties", {})
        if "primary_key" in props:  # primary_key: id
            props["primary_key"] = _or(props["primary_key"], {"type": "string"})
        if "paginator" in props:  # paginator: single_page
            props["paginator"] = _or(props["paginator"], {"enum": list(STYLES)})
        columns = props.get("columns", {})
        if "additionalProperties" in columns:  # iban: drop, or a bare name
            columns["additionalProperties"] = _or(
                columns["additionalProperties"], strategy, {"type": "null"}
            )
    models = schema["properties"]["models"]
    for pattern, model in models["patternProperties"].items():  # a model given as null
        models["patternProperties"][pattern] = _or(model, {"type": "null"})
    names = {"type": "array", "items": {"type": "string"}}  # models: [a, b]
    schema["properties"]["models"] = {"anyOf": [models, names], "title": models.pop("title")}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest file (``additionalProperties: false`` everywhere)."""
    schema = Source.model_json_schema(by_alias=True)
    _no_name(schema)
    _short_forms(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kspyder source manifest"
    return schema


def schema_text() -> str:
    """The schema as the stable, pretty-printed text kept in the repository."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
