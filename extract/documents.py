"""Load ``target: documents`` sources into MongoDB, one database per source, documents whole.

Each model's dlt resource from ``build_source`` (pagination, auth, throttling, retries,
incremental and extract-time PII already applied) is iterated directly and written with
``extract.mongo``: merge -> upserts keyed on the primary key, append -> inserts,
replace -> a temporary collection renamed over the old one when complete.

Why not a dlt pipeline with a custom destination: dlt's normalizer would rename keys to
snake_case, infer types (ISO strings become timestamps) and drop null fields, and it commits
the incremental state before the sink has written. Here dlt's incremental state is injected
from the ``_kspyder_state`` collection of the same database and saved back only after every
document of the model is written. State lives beside the data (as dlt keeps it in its
destination): a dropped database starts again from the initial values, and a failed model
keeps its old cursor, so its rerun fetches the same records again (merge upserts them;
append may then hold some twice). Schema contracts do not apply: documents are schemaless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from dlt.common import json as dlt_json
from dlt.common.configuration.container import Container
from dlt.common.pipeline import StateInjectableContext
from dlt.extract.items import DataItemWithMeta

from extract import mongo, pii_key
from extract.errors import KspyderError, root_cause
from extract.load import ModelResult
from extract.locks import source_lock
from extract.manifest.typing import Model, Source
from extract.pii import hmac_key
from extract.rest.records import normalized
from extract.secrets import redact
from extract.sources import build_source, select_models

STATE_COLLECTION = "_kspyder_state"
KEY_DOCUMENT = "kspyder:hmac_key"  # beside the models' states (a model name has no colon)


def load_documents(
    source: Source,
    models: list[str] | None = None,
    full_refresh: bool = False,
    on_model: Callable[[ModelResult], None] | None = None,
) -> list[ModelResult]:
    """Load the selected models of a documents source into its MongoDB database.

    One result per model; a failing model is reported and the others still load.
    ``full_refresh`` drops each model's collection and incremental state first.
    """
    if source.target != "documents":
        raise KspyderError(f"source '{source.name}' has target '{source.target}', not documents")
    results = []
    selected = select_models(source, models)
    with source_lock(source.name):  # one writer per database
        _check_store(source)
        check_document_key(source, selected)
        for name in selected:
            result = _load_model(source, source.models[name], full_refresh)
            results.append(result)
            if on_model:
                on_model(result)
    return results


def rebuild_documents(
    source: Source, on_model: Callable[[ModelResult], None] | None = None
) -> list[ModelResult]:
    """Drop the source's database, then load every model again from the source."""
    drop_documents(source)
    return load_documents(source, on_model=on_model)


def drop_documents(source: Source) -> None:
    """Drop the source's database, moving a lost or corrupted embedded store aside first."""
    try:
        mongo.client()
    except mongo.StoreDamaged:
        mongo.reset_embedded_store()  # the other sources of that store need a rebuild too
    mongo.drop_database(database_name(source))
    mongo.flush()


def check_document_key(source: Source, models: list[str]) -> None:
    """Refuse hashed fields made with another HMAC key than the database's (its fingerprint
    is kept in ``_kspyder_state``); record it on the first hashed load."""
    if not pii_key.hashed_models(source, models) or pii_key.rotating():
        return
    db = database_name(source)
    current = pii_key.fingerprint(hmac_key())
    stored = mongo.read_document(db, STATE_COLLECTION, KEY_DOCUMENT)
    if stored is None:
        record_document_key(source, current)
    elif stored["fingerprint"] != current:
        where = f"database '{db}' ({STATE_COLLECTION} '{KEY_DOCUMENT}')"
        raise pii_key.mismatch(source, current, str(stored["fingerprint"]), where)


def record_document_key(source: Source, value: str) -> None:
    """Make ``value`` the fingerprint of the key the source's database is hashed with."""
    doc = {"_id": KEY_DOCUMENT, "fingerprint": value, "recorded_at": datetime.now(UTC).isoformat()}
    mongo.bulk_upsert(database_name(source), STATE_COLLECTION, [doc], ["_id"])
    mongo.flush(database_name(source))


def _check_store(source: Source) -> None:
    """Stop at once, in one line naming the rebuild, when the embedded store is damaged."""
    try:
        mongo.client()
    except mongo.StoreDamaged as exc:
        raise exc.for_source(source.name) from None


def database_name(source: Source) -> str:
    """The MongoDB database of a source: its name."""
    return source.name


def _load_model(source: Source, model: Model, full_refresh: bool) -> ModelResult:
    started = time.perf_counter()
    db = database_name(source)
    result = ModelResult(source.name, model.name, destination=mongo.describe(), dataset=db)
    try:
        if full_refresh:
            mongo.drop_collection(db, model.name)
            save_state(db, model.name, {})
        state = read_state(db, model.name)
        resource = build_source(source, [model.name]).resources[model.name]
        with _injected(state):
            counts = _write(db, model, normalized(documents(resource), model.normalize_ids))
        mongo.flush(db)  # every document durable before the cursor moves on
        save_state(db, model.name, state)
        mongo.flush(db)
    except Exception as exc:  # noqa: BLE001 (one model failing must not stop the others)
        result.status, result.error = "failed", redact(_cause(exc))
    else:
        result.rows = counts.pop("rows")
        result.extra = counts | _request_counts(source, model.name)
        result.pii_dropped = len(source.pii_columns("drop").get(model.name, []))
        result.pii_hashed = len(source.pii_columns("hash").get(model.name, []))
    result.duration_s = time.perf_counter() - started
    return result


def _write(db: str, model: Model, docs: Iterable[dict[str, Any]]) -> dict[str, int]:
    if model.write_disposition == "replace":
        rows = mongo.replace_collection(db, model.name, docs, model.primary_key, model.indexes)
        return {"rows": rows}
    mongo.ensure_indexes(db, model.name, model.indexes)
    if model.write_disposition == "merge":
        counts = mongo.bulk_upsert(db, model.name, docs, model.primary_key)
        return {"rows": sum(counts.values()), **counts}
    return {"rows": mongo.insert(db, model.name, docs)}


def _request_counts(source: Source, model: str) -> dict[str, int]:
    """REST counters of the model (requests, pages, retries, records), read before the next
    model's build resets them."""
    if source.kind != "rest":
        return {}
    from extract.rest import rest_stats

    return rest_stats(source.name).get(model, {})


def documents(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Records of a resource as dicts: pages flattened, Arrow tables turned into rows."""
    for item in items:
        if isinstance(item, DataItemWithMeta):
            item = item.data
        if isinstance(item, pa.Table | pa.RecordBatch):
            item = item.to_pylist()
        for record in item if isinstance(item, list) else [item]:
            if not isinstance(record, Mapping):
                raise KspyderError(f"a document must be a mapping, got {type(record).__name__}")
            yield dict(record)


# -- incremental state ---------------------------------------------------------------------------
@contextmanager
def _injected(state: dict[str, Any]) -> Iterator[None]:
    """Make ``state`` the writable dlt pipeline state seen by the resource's incremental."""
    with Container().injectable_context(StateInjectableContext(state=state)):  # type: ignore[arg-type]
        yield


def read_state(db: str, model: str) -> dict[str, Any]:
    """The dlt state saved after the model's last complete load (empty at first)."""
    found = mongo.read_document(db, STATE_COLLECTION, model)
    state = dlt_json.typed_loads(found["state"]) if found else {}
    return state if isinstance(state, dict) else {}


def save_state(db: str, model: str, state: Mapping[str, Any]) -> None:
    """Store the model's dlt state (typed JSON keeps dates and decimals) beside its data."""
    doc = {
        "_id": model,
        "state": dlt_json.typed_dumps(dict(state)),
        "updated_at": datetime.now(UTC).isoformat(),
    }
    mongo.bulk_upsert(db, STATE_COLLECTION, [doc], ["_id"])


def _cause(exc: BaseException) -> str:
    """The innermost message of an exception chain (dlt wraps resource errors)."""
    inner = root_cause(exc)
    text = f"{type(inner).__name__}: {inner}"
    return text if inner is exc else f"{type(exc).__name__}: {text}"
