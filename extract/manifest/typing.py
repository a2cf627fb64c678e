"""The manifest schema, as typed pydantic models (exported to ``manifests/manifest.schema.json``).

One YAML file per source. Short forms expand to long ones before validation
(``extract.manifest.loader``): a column given as a bare PII strategy (``iban: drop``), a
model given as ``null``, a paginator given as its type name. Paginator blocks are typed per
style in ``extract.manifest.paginator_types``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from extract.manifest.paginator_types import Paginator
from extract.manifest.strict import Strict

SQL_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"
Identifier = Annotated[str, StringConstraints(pattern=SQL_IDENTIFIER)]
WriteDisposition = Literal["append", "replace", "merge"]
PiiStrategy = Literal["drop", "hash", "mask", "redact", "keep"]
ColumnType = Literal[
    "text", "bigint", "double", "bool", "timestamp", "date", "time", "decimal", "json", "binary"
]
SchemaContract = Literal["evolve", "freeze", "discard_row", "discard_value"]
OnNullCursor = Literal["include", "exclude", "fail"]
# The settings block each source kind needs; a missing one is reported at its own key
# (error type ``missing_for_kind``, the key in the error's context).
KIND_SETTINGS: dict[str, str] = {"sql": "connection", "rest": "client"}


class Column(Strict):
    """Hints for one column: type, nullability, description and PII class."""

    type: ColumnType | None = Field(
        default=None,
        description="The column's type in the warehouse. SQL sources: `text` selects the "
        "column as CAST(column AS text), the source's own text of every value (for values "
        "the mapped type cannot hold, see docs/fidelity.md).",
    )
    nullable: bool | None = None
    description: str | None = None
    pii: PiiStrategy | None = Field(
        default=None,
        description="drop: never stored; hash: keyed HMAC pseudonym; mask: partial; "
        "redact: constant; keep: stored as is (declared on purpose).",
    )
    path: str | None = Field(
        default=None, description="Dotted path of a nested field (document targets)."
    )
    money: bool | None = Field(
        default=None,
        description="A monetary amount: staging casts it to numeric(18, 4), so sums in "
        "marts are exact decimals, not doubles.",
    )
    references: str | None = Field(
        default=None,
        description="The `model` (its single-column primary key) or `model.column` of the "
        "same source this column points to: staging gets a dbt relationships test.",
    )


class Incremental(Strict):
    """Incremental loading by a cursor column or record field; dlt keeps the state."""

    cursor: str = Field(description="Column (SQL) or record field (REST) that only grows.")
    initial_value: Any = None
    end_value: Any = None
    param: str | None = Field(
        default=None, description="REST: query parameter that receives the last cursor value."
    )
    lookback: int | None = Field(
        default=None,
        ge=0,
        description="Re-read window below the stored high-water mark, for late and "
        "back-dated rows: seconds for timestamp cursors (whole days for date cursors), "
        "cursor units for numeric cursors. Merge de-duplicates what it re-reads.",
    )
    on_null_cursor: OnNullCursor = Field(
        default="include",
        description="SQL rows whose cursor is NULL: include = loaded every run (merge "
        "de-duplicates them by key), exclude = never loaded (counted), fail = the model fails.",
    )
    row_order: Literal["asc", "desc"] | None = None


class Index(Strict):
    """A MongoDB index on a document model."""

    keys: list[str]
    unique: bool = False


class ResponseAction(Strict):
    """What to do with a response matched by status code or content."""

    status_code: int | None = Field(default=None, ge=100, le=599)
    content: str | None = None
    action: Literal["ignore", "retry", "fail"]


class Auth(Strict):
    """Authentication. Secret values must be ``${ENV}`` references."""

    type: Literal["bearer", "api_key", "basic", "oauth2_client_credentials"]
    token: str | None = None
    name: str | None = Field(default=None, description="api_key: header or parameter name")
    location: Literal["header", "query"] | None = None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    on_foreign_origin: Literal["fail", "omit_credentials"] = Field(
        default="fail",
        description="A next link, Link header or redirect to another origin than base_url's "
        "(or token_url's): fail the model naming it, or follow it without credentials",
    )


class RateLimit(Strict):
    """A proactive request budget shared by every model of the source (token bucket)."""

    requests_per_second: float | None = Field(default=None, gt=0)
    requests_per_minute: float | None = Field(default=None, gt=0)
    burst: int = Field(default=1, ge=1)
    remaining_header: str | None = Field(
        default=None,
        description="Response header giving the requests the server still allows (e.g. ARM's "
        "x-ms-ratelimit-remaining-subscription-reads); at remaining_floor or below, every "
        "request of the source waits remaining_pause seconds, before the server answers 429",
    )
    remaining_floor: int = Field(
        default=2,
        ge=0,
        description="Pause when the server reports this many requests left or fewer; keep it at "
        "least the number of requests in flight at once (parallel pages, child models)",
    )
    remaining_pause: float = Field(
        default=1.0, gt=0, le=3600, description="Seconds every request of the source waits"
    )

    @model_validator(mode="after")
    def _one_rate(self) -> RateLimit:
        if (self.requests_per_second is None) == (self.requests_per_minute is None):
            raise ValueError("give exactly one of requests_per_second, requests_per_minute")
        return self


class Retry(Strict):
    """Retries with exponential backoff and jitter; ``Retry-After`` is honoured."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_factor: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=60.0, gt=0)
    statuses: list[int] = Field(default_factory=lambda: [429, 500, 502, 503, 504])
    retry_after_headers: list[str] = Field(
        default_factory=lambda: ["Retry-After"],
        min_length=1,
        description="Response headers giving the wait before a retry (seconds or an HTTP "
        "date), first present wins; e.g. Azure Cost Management's "
        "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
    )


class Client(Strict):
    """REST client shared by the source's models."""

    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)
    verify: bool = True
    auth: Auth | None = None
    paginator: Paginator | None = None
    rate_limit: RateLimit | None = None
    retry: Retry = Field(default_factory=Retry)


class RecordsFrom(Strict):
    """Records from a columns + rows answer (Azure Cost Management query, BigQuery-like APIs)."""

    columns: str = Field(description="Dotted path of the column list in the response")
    rows: str = Field(description="Dotted path of the rows: arrays of values in column order")
    column_name: str = Field(
        default="name", description="Key of the name in each column object (or plain strings)"
    )


class IdNormalization(Strict):
    """Rewrite ids at load so that joins by id match (ARM ids are case-insensitive)."""

    case: Literal["lower"] = "lower"
    keys: list[str] = Field(
        default_factory=lambda: ["id"],
        min_length=1,
        description="Keys, at any depth of a document, whose string values are ids",
    )


class Endpoint(Strict):
    """REST endpoint of a model."""

    path: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    data_selector: str | None = None
    records_from: RecordsFrom | None = Field(
        default=None, description="Build records from column names and value rows"
    )
    paginator: Paginator | None = None
    response_actions: list[ResponseAction] = Field(default_factory=list)
    concurrency: int = Field(default=1, ge=1, le=64)


class Connection(Strict):
    """SQL connection: any SQLAlchemy URL; passwords only through ``${ENV}``."""

    url: str
    chunk_size: int = Field(default=100_000, gt=0)
    backend: Literal["auto", "pyarrow", "sqlalchemy", "connectorx", "pandas"] = Field(
        default="auto",
        description="How rows are read: auto = connectorx (Arrow, no Python rows) for "
        "PostgreSQL, pyarrow (SQLAlchemy rows batched into Arrow) elsewhere",
    )
    schema_name: str | None = Field(default=None, alias="schema")


class ModelDefaults(Strict):
    """Settings every model of the source inherits (deep-merged)."""

    write_disposition: WriteDisposition | None = None
    primary_key: list[str] | None = None
    incremental: Incremental | None = None
    columns: dict[str, Column] = Field(default_factory=dict)
    normalize_ids: IdNormalization | None = None
    endpoint: dict[str, Any] | None = Field(
        default=None, description="Endpoint settings merged into every model's endpoint"
    )


class Model(Strict):
    """One table (or collection): where it comes from and how it lands."""

    name: Identifier
    description: str | None = None
    # sql
    table: str | None = None
    query: str | None = None
    # rest
    endpoint: Endpoint | None = None
    parent: str | None = None
    include_from_parent: list[str] = Field(default_factory=list)
    # common
    primary_key: list[str] = Field(default_factory=list)
    write_disposition: WriteDisposition = "append"
    incremental: Incremental | None = None
    columns: dict[str, Column] = Field(default_factory=dict)
    indexes: list[Index] = Field(default_factory=list)
    dedup_sort: str | None = Field(
        default=None,
        description="merge: column deciding which of several versions of a key read in one "
        "run is kept (the highest); defaults to the incremental cursor.",
    )
    normalize_ids: IdNormalization | None = Field(
        default=None, description="Documents: lower-case ids at load, so joins by id match"
    )

    @model_validator(mode="after")
    def _merge_needs_key(self) -> Model:
        if self.write_disposition == "merge" and not self.primary_key:
            raise ValueError("write_disposition 'merge' needs a primary_key")
        if self.table and self.query:
            raise ValueError("give either table or query, not both")
        if self.dedup_sort and self.write_disposition != "merge":
            raise ValueError("dedup_sort applies to write_disposition 'merge' only")
        return self


class Source(Strict):
    """One source = one schema in the warehouse (or one MongoDB database)."""

    name: Identifier
    kind: Literal["sql", "rest"]
    description: str | None = None
    target: Literal["warehouse", "documents"] = "warehouse"
    schema_contract: SchemaContract = "evolve"
    schedule: str | None = Field(default=None, description="Cron for a per-source deployment")
    enabled: bool = True
    connection: Connection | None = None
    client: Client | None = None
    defaults: ModelDefaults = Field(default_factory=ModelDefaults)
    models: dict[Identifier, Model]

    @model_validator(mode="after")
    def _kind_settings(self) -> Source:
        key = KIND_SETTINGS[self.kind]
        if getattr(self, key) is None:
            raise PydanticCustomError(
                "missing_for_kind", "kind '{kind}' needs a {key}", {"kind": self.kind, "key": key}
            )
        return self

    def pii_columns(self, strategy: str) -> dict[str, list[str]]:
        """Column names per model carrying a given PII strategy."""
        return {
            m.name: [c for c, col in m.columns.items() if col.pii == strategy]
            for m in self.models.values()
        }
