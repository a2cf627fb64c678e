"""The aggregation pipeline file schema, as typed pydantic models (``extra=forbid``).

One YAML file per pipeline in ``mongo_pipelines/`` (``name`` defaults to the file stem)::

    description: VMs per value of an option
    database: cloud                 # a document source's database (= source name)
    collection: vms
    params:                         # type: string|int|float|bool|date; no default = required
      option: {type: string, default: accelerated_networking, choices: [...]}
    stages:                         # read-only stages; "{{ option }}" = the typed value
      - $group: {_id: "$options.{{ option }}", vms: {$sum: 1}}
    outputs:                        # json|csv under <outputs>/aggregations, or a table
      - {format: json}              # in schema ``aggregates`` of the warehouse
      - {format: warehouse, table: vms_by_option}
    test: {params: {...}, fixture: [...documents], expected: [...results]}

The committed JSON Schema (``mongo_pipelines/pipeline.schema.json``) is generated from these
models by ``schema_text()``.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from extract.manifest.typing import Identifier

ParamType = Literal["string", "int", "float", "bool", "date"]


class Strict(BaseModel):
    """Base: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Param(Strict):
    """A typed pipeline parameter; without ``default`` it is required."""

    type: ParamType = "string"
    default: Any = Field(default=None, description="Omit to make the parameter required")
    description: str | None = None
    choices: list[Any] | None = Field(default=None, description="The only values accepted")

    @property
    def required(self) -> bool:
        """True when the file gives no ``default`` (``default: null`` means optional)."""
        return "default" not in self.model_fields_set


class Output(Strict):
    """Where results go: a JSON or CSV file, or a warehouse table in schema ``aggregates``."""

    format: str = Field(description="json, csv or warehouse (or a registered format)")
    path: str | None = Field(
        default=None,
        description="File path relative to <outputs>/aggregations (default <name>.<format>)",
    )
    table: Identifier | None = Field(default=None, description="warehouse: table name")

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (
            PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts
        ):
            raise ValueError("path must be relative to the outputs folder, without '..'")
        return value

    @model_validator(mode="after")
    def _table_for_warehouse(self) -> Output:
        if self.format == "warehouse" and (not self.table or self.path):
            raise ValueError("a warehouse output needs a table and no path")
        if self.format != "warehouse" and self.table:
            raise ValueError(f"a {self.format} output takes a path, not a table")
        return self


class FixtureTest(Strict):
    """A self-check: run the stages over ``fixture`` documents and compare with ``expected``."""

    fixture: list[dict[str, Any]]
    collections: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="Documents of the other collections the stages read ($lookup, $unionWith)",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    expected: list[dict[str, Any]]


class Pipeline(Strict):
    """One aggregation pipeline: where it reads, its parameters, stages and outputs."""

    name: Identifier = Field(description="Defaults to the file name, which it must match")
    description: str
    database: str = Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")
    collection: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    params: dict[Identifier, Param] = Field(default_factory=dict)
    stages: list[dict[str, Any]] = Field(min_length=1)
    outputs: list[Output] = Field(default_factory=lambda: [Output(format="json")])
    test: FixtureTest | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one pipeline file (``additionalProperties: false`` everywhere)."""
    schema = Pipeline.model_json_schema()
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kspyder MongoDB aggregation pipeline"
    return schema


def schema_text() -> str:
    """The schema as the stable, pretty-printed text kept in the repository."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
