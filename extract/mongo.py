"""The one module that speaks to MongoDB (pymongo), on a server or the embedded one.

``MONGODB_URI`` set: that server. Unset: the embedded SecantusDB wire server of this
``home()`` (extract.mongo_server starts it on first use, files under ``<home>/mongo/data``,
and stops it at exit); ``flush()`` makes its acknowledged writes durable (``fsync``) after
every model load, before the incremental state is saved. Either way it is pymongo against a
MongoDB wire server: callers pass database and collection names and get plain Python values
back, and never learn which server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import bson
import pymongo
from bson import Decimal128, ObjectId
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, PyMongoError

from extract import mongo_server, project
from extract.errors import KspyderError
from extract.mongo_server import StoreDamaged
from extract.secrets import redact, register_secret, url_password

if TYPE_CHECKING:
    from extract.manifest.typing import Index

URI_ENV = "MONGODB_URI"
SCRATCH_PREFIX = "kspyder_scratch_"
TEMP_PREFIX = "_kspyder_tmp_"
Doc = dict[str, Any]
Client = pymongo.MongoClient[Doc]

__all__ = ["StoreDamaged"]  # re-exported: callers catch it without knowing the server module

_clients: dict[str, Client] = {}
_lock = threading.RLock()  # client creation (Prefect runs tasks in threads)


def store_dir() -> Path:
    """Where the embedded server keeps its files and its record (``<home>/mongo``)."""
    return project.home() / "mongo"


def is_embedded() -> bool:
    """True when no ``MONGODB_URI`` is set and kspyder runs its own server."""
    return not os.environ.get(URI_ENV)


def describe() -> str:
    """Where documents go, without secrets (for summaries)."""
    uri = os.environ.get(URI_ENV)
    return redact(uri) if uri else f"embedded SecantusDB ({store_dir()})"


def client() -> Client:
    """The pymongo client of ``$MONGODB_URI``, else of the embedded server of this ``home()``.

    Raises ``StoreDamaged`` when the embedded store's files are lost or corrupted."""
    uri = os.environ.get(URI_ENV)
    register_secret(url_password(uri) if uri else None)
    with _lock:
        if uri:
            key = uri
        else:
            key = mongo_server.running(store_dir()).uri
        if key not in _clients:
            _clients[key] = pymongo.MongoClient(key)
        return _clients[key]


def _db(name: str) -> pymongo.database.Database[Doc]:
    return client()[name]


def flush(database: str | None = None) -> list[Path]:
    """Make the embedded server's acknowledged writes survive a crash (its journal is
    otherwise synced every ~100 ms); returns the store folder flushed (none on a server)."""
    if not is_embedded():
        return []
    try:
        client().admin.command("fsync")
    except PyMongoError as exc:
        raise KspyderError(
            f"the embedded MongoDB could not flush to {store_dir()}: {exc}"
        ) from None
    return [store_dir()]


def close() -> None:
    """Close and forget every client (the embedded server stops at exit, or with
    ``mongo_server.stop_all()``)."""
    with _lock:
        for c in _clients.values():
            c.close()
        _clients.clear()


def stop_embedded() -> None:
    """Close the clients and stop the embedded server this process started (if any)."""
    close()
    mongo_server.stop_all()


@contextmanager
def embedded_server() -> Iterator[None]:
    """For one-shot runs (``kspyder run``/``demo``): start the embedded server now, in the
    background, so it boots while the run starts, and stop it when the block ends. Nothing
    to do with ``MONGODB_URI`` set; a start-up error surfaces at the first real use."""
    if not is_embedded():
        yield
        return
    starter = threading.Thread(target=_start_quietly, name="kspyder-mongo-start", daemon=True)
    starter.start()
    try:
        yield
    finally:
        starter.join()
        stop_embedded()


def _start_quietly() -> None:
    try:
        client()
    except KspyderError:
        pass  # reported where the documents are used, naming the source to rebuild


def reset_embedded_store() -> Path | None:
    """Move a lost or corrupted embedded store aside so the next use starts an empty one;
    returns where the old files went (None without any)."""
    close()
    return mongo_server.reset_store(store_dir())


def _field(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KspyderError(f"document has no primary key field '{path}'")
        value = value[part]
    if value is None:
        raise KspyderError(f"document has a null primary key field '{path}'")
    return value


def document_id(doc: Mapping[str, Any], key_fields: Sequence[str]) -> Any:
    """``_id`` of a document: its key value, or ``{field: value, ...}`` for compound keys."""
    if len(key_fields) == 1:
        return _bson(_field(doc, key_fields[0]))
    return {f: _bson(_field(doc, f)) for f in key_fields}


def _bson(value: Any) -> Any:
    """Values BSON cannot encode as they are: Decimal, date, tuple, set."""
    if isinstance(value, Mapping):
        return {str(k): _bson(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_bson(v) for v in value]
    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def plain(value: Any) -> Any:
    """BSON-specific values turned into plain Python ones (``ObjectId`` -> ``str``)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value


def _batches(docs: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Doc]]:
    it = iter(docs)
    while batch := [_bson(d) for d in islice(it, size)]:
        yield batch


DUPLICATE_KEY = 11000
# a merge into a collection of up to this many documents reads it once first (a full scan,
# fast on every server; ~16 bytes kept per document) and skips documents that did not change
COMPARE_UP_TO = 200_000


def bulk_upsert(
    db: str,
    collection: str,
    docs: Iterable[Mapping[str, Any]],
    key_fields: Sequence[str],
    batch_size: int = 1000,
) -> dict[str, int]:
    """Replace-or-insert each document by its key-derived ``_id``: reruns never duplicate.

    Unordered bulk ``ReplaceOne(upsert=True)``, one round trip per batch. Into an empty
    collection (a first load, a full refresh, a rebuild) the batch is inserted instead:
    the same documents, about 200x faster on the embedded server (``python -m
    bench.mongo_first_load``, docs/benchmarks.md); a key seen in an earlier batch is then
    replaced. Into a collection of up to ``COMPARE_UP_TO`` documents, a document equal to
    the stored one (same BSON) is not written again: a rerun of unchanged data writes
    nothing (``unchanged`` counts them).
    """
    if not key_fields:
        raise KspyderError(f"upserts into {db}.{collection} need key fields")
    coll = _db(db)[collection]
    counts = {"inserted": 0, "replaced": 0, "unchanged": 0}
    stored = coll.estimated_document_count()
    known = _digests(coll) if 0 < stored <= COMPARE_UP_TO else None
    for batch in _batches(docs, batch_size):
        unique = list({repr(d["_id"]): d for d in _with_ids(batch, key_fields)}.values())
        if stored == 0:
            inserted, unique = _insert_new(coll, unique)  # what is left: keys already stored
            counts["inserted"] += inserted
        if known is not None:
            digests = {repr(d["_id"]): _digest(d) for d in unique}
            changed = [d for d in unique if known.get(repr(d["_id"])) != digests[repr(d["_id"])]]
            counts["unchanged"] += len(unique) - len(changed)
            known.update(digests)  # a key met again later compares with what is stored now
            unique = changed
        if unique:
            ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in unique]
            result = coll.bulk_write(ops, ordered=False)
            counts["inserted"] += result.upserted_count
            counts["replaced"] += result.matched_count
    return counts


def _digest(doc: Mapping[str, Any]) -> bytes:
    return hashlib.blake2b(bson.encode(doc), digest_size=16).digest()


def _digests(coll: Any) -> dict[str, bytes]:
    """``repr(_id)`` -> digest of each stored document (one full scan)."""
    return {repr(d["_id"]): _digest(d) for d in coll.find({})}


def _insert_new(coll: Any, docs: list[Doc]) -> tuple[int, list[Doc]]:
    """Insert ``docs``: how many went in, and those refused as duplicate keys (to replace);
    any other write error is raised."""
    try:
        coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nInserted", 0)), [docs[e["index"]] for e in errors]
    return len(docs), []


def _with_ids(batch: list[Doc], key_fields: Sequence[str]) -> list[Doc]:
    return [{"_id": document_id(d, key_fields), **{k: v for k, v in d.items() if k != "_id"}}
            for d in batch]  # fmt: skip


def insert(
    db: str, collection: str, docs: Iterable[Mapping[str, Any]], batch_size: int = 1000
) -> int:
    """Append documents as they are (server-assigned ``_id``); returns how many."""
    coll, total = _db(db)[collection], 0
    for batch in _batches(docs, batch_size):
        coll.insert_many(batch, ordered=False)
        total += len(batch)
    return total


def replace_collection(
    db: str,
    collection: str,
    docs: Iterable[Mapping[str, Any]],
    key_fields: Sequence[str] = (),
    indexes: Sequence[Index] = (),
    batch_size: int = 1000,
) -> int:
    """Fill a temporary collection, index it, then rename it over ``collection``: returns count.

    An error on the way drops the temporary collection; the old one stays as it was."""
    database = _db(db)
    temp = f"{TEMP_PREFIX}{collection}_{uuid.uuid4().hex[:8]}"
    database.create_collection(temp)
    try:
        total = 0
        for batch in _batches(docs, batch_size):
            database[temp].insert_many(_with_ids(batch, key_fields) if key_fields else batch)
            total += len(batch)
        ensure_indexes(db, temp, indexes)
        database[temp].rename(collection, dropTarget=True)
    except BaseException:
        database.drop_collection(temp)
        raise
    return total


def ensure_indexes(db: str, collection: str, indexes: Sequence[Index]) -> list[str]:
    """Create the declared indexes (ascending keys; idempotent); returns their names."""
    coll = _db(db)[collection]
    names = [
        coll.create_index([(k, pymongo.ASCENDING) for k in idx.keys], unique=idx.unique)
        for idx in indexes
    ]
    return names


def aggregate(db: str, collection: str, stages: list[Doc]) -> list[Doc]:
    """Run an aggregation pipeline; plain Python documents back."""
    try:
        rows = list(_db(db)[collection].aggregate(stages, allowDiskUse=True))
    except PyMongoError as exc:
        raise KspyderError(f"aggregation on {db}.{collection} failed: {exc}") from None
    return [cast(Doc, plain(r)) for r in rows]


def explain(db: str, collection: str, stages: list[Doc]) -> Doc:
    """The server's query plan of a pipeline (``explain`` command, queryPlanner verbosity)."""
    command = {"aggregate": collection, "pipeline": stages, "cursor": {}}
    try:
        plan = _db(db).command("explain", command, verbosity="queryPlanner")
    except PyMongoError as exc:
        raise KspyderError(f"explain on {db}.{collection} failed: {exc}") from None
    return cast(Doc, plain(plan))


def count(db: str, collection: str, query: Mapping[str, Any] | None = None) -> int:
    """Number of documents matching ``query`` (all when None)."""
    return int(_db(db)[collection].count_documents(dict(query or {})))


def collection_counts(db: str) -> dict[str, int]:
    """Document count of every collection in a database (internal ones left out)."""
    database = _db(db)
    names = sorted(n for n in database.list_collection_names() if not n.startswith("_kspyder"))
    return {n: int(database[n].count_documents({})) for n in names}


def find(db: str, collection: str, query: Mapping[str, Any] | None = None) -> list[Doc]:
    """Every matching document, as plain Python values."""
    return [cast(Doc, plain(d)) for d in _db(db)[collection].find(dict(query or {}))]


def read_document(db: str, collection: str, doc_id: Any) -> Doc | None:
    """One document by ``_id``, or None."""
    found = _db(db)[collection].find_one({"_id": doc_id})
    return cast(Doc, plain(found)) if found is not None else None


def drop_collection(db: str, collection: str) -> None:
    """Drop a collection (no error when absent)."""
    _db(db).drop_collection(collection)


def drop_database(db: str) -> None:
    """Drop a whole database (no error when absent)."""
    client().drop_database(db)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A throwaway database name, dropped on exit: for pipeline fixture tests."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        client().drop_database(name)
