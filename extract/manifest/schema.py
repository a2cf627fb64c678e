"""Export the manifest schema as JSON Schema (committed as ``manifests/manifest.schema.json``)."""

from __future__ import annotations

import json
from typing import Any

from extract.manifest.typing import Source


def _no_name(schema: dict[str, Any]) -> None:
    """Names come from the file name and the ``models`` keys: not required in YAML."""
    for definition in [schema, *schema.get("$defs", {}).values()]:
        req = definition.get("required")
        if req and "name" in req:
            req.remove("name")
            if not req:
                del definition["required"]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest file (``additionalProperties: false`` everywhere)."""
    schema = Source.model_json_schema(by_alias=True)
    _no_name(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kspyder source manifest"
    return schema


def schema_text() -> str:
    """The schema as the stable, pretty-printed text kept in the repository."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
