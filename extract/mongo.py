"""The one module that speaks to MongoDB: pymongo for a server, mongomock for the embedded default.

``MONGODB_URI`` set: a real server through pymongo. Unset: a process-wide mongomock client
behind the same API, persisted as one Extended JSON file per database under ``<home>/mongo/``
(documents and indexes). A file is read when the client is made, or when another process has
rewritten it; ``flush()`` writes changed databases (after every model load, and at exit).
Callers pass database and collection names and get plain Python values back.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import mongomock
import pymongo
from bson import Decimal128, ObjectId, json_util
from pymongo import ReplaceOne
from pymongo.errors import PyMongoError

from extract import project
from extract.errors import KspyderError
from extract.secrets import redact, register_secret, url_password

if TYPE_CHECKING:
    from extract.manifest.typing import Index

URI_ENV = "MONGODB_URI"
SCRATCH_PREFIX = "kspyder_scratch_"
TEMP_PREFIX = "_kspyder_tmp_"
Doc = dict[str, Any]
Client = pymongo.MongoClient[Doc]

_servers: dict[str, Client] = {}
_embedded: dict[Path, Client] = {}
_dirty: dict[Path, set[str]] = {}
_lock = threading.RLock()  # client creation and file reloads (Prefect runs tasks in threads)
_seen: dict[Path, int] = {}  # embedded database file -> mtime when last read or written


def store_dir() -> Path:
    """Where the embedded databases are persisted (``<home>/mongo``)."""
    return project.home() / "mongo"


def is_embedded() -> bool:
    """True when no ``MONGODB_URI`` is set and mongomock stands in for a server."""
    return not os.environ.get(URI_ENV)


def describe() -> str:
    """Where documents go, without secrets (for summaries)."""
    uri = os.environ.get(URI_ENV)
    return redact(uri) if uri else f"embedded mongomock ({store_dir()})"


def client() -> Client:
    """The pymongo client of ``$MONGODB_URI``, else the embedded one of this ``home()``."""
    uri = os.environ.get(URI_ENV)
    register_secret(url_password(uri) if uri else None)
    with _lock:
        if uri and uri not in _servers:
            _servers[uri] = pymongo.MongoClient(uri)
        if uri:
            return _servers[uri]
        folder = store_dir()
        if folder not in _embedded:
            _patch_mongomock()
            mock = cast(Client, mongomock.MongoClient())
            for file in sorted(folder.glob("*.json")):
                _load_database(mock, file)
            _embedded[folder] = mock
        return _embedded[folder]


def _db(name: str) -> pymongo.database.Database[Doc]:
    mongo, file = client(), store_dir() / f"{name}.json"
    if is_embedded() and name not in _dirty.get(store_dir(), set()) and file.exists():
        with _lock:
            if _seen.get(file) != file.stat().st_mtime_ns:  # another process rewrote it
                _load_database(mongo, file)
    return mongo[name]


def _touch(database: str) -> None:
    if is_embedded() and not database.startswith(SCRATCH_PREFIX):  # scratch: never persisted
        _dirty.setdefault(store_dir(), set()).add(database)


def _load_database(mock: Client, file: Path) -> None:
    """(Re)build one embedded database from its file."""
    try:
        data = json_util.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise KspyderError(f"embedded MongoDB file {file} is not Extended JSON: {exc}") from None
    mock.drop_database(file.stem)
    for name, body in data.get("collections", {}).items():
        coll = mock[file.stem][name]
        if body.get("documents"):
            coll.insert_many(body["documents"])
        else:
            mock[file.stem].create_collection(name)
        for index in body.get("indexes", []):
            keys = [(str(k), int(d)) for k, d in index["key"]]
            coll.create_index(keys, unique=bool(index.get("unique")), name=index["name"])
    _seen[file] = file.stat().st_mtime_ns


def _dump_database(mock: Client, folder: Path, name: str) -> Path:
    target = folder / f"{name}.json"
    if name not in mock.list_database_names():
        target.unlink(missing_ok=True)
        return target
    collections: dict[str, Any] = {}
    for coll_name in sorted(mock[name].list_collection_names()):
        coll = mock[name][coll_name]
        specs = coll.index_information().items()
        indexes = [{"name": n, "key": s["key"], "unique": s.get("unique", False)}
                   for n, s in specs if n != "_id_"]  # fmt: skip
        collections[coll_name] = {"indexes": indexes, "documents": list(coll.find({}))}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    relaxed = json_util.RELAXED_JSON_OPTIONS
    tmp.write_text(json_util.dumps({"collections": collections}, json_options=relaxed), "utf-8")
    os.replace(tmp, target)
    _seen[target] = target.stat().st_mtime_ns
    return target


def flush(database: str | None = None) -> list[Path]:
    """Write the changed embedded databases (or only ``database``, if changed) to their files."""
    if not is_embedded():
        return []
    client()
    return _flush_folder(store_dir(), database)


def _flush_folder(folder: Path, only: str | None = None) -> list[Path]:
    dirty = _dirty.get(folder, set())
    names = sorted(n for n in dirty if only in (None, n))
    dirty.difference_update(names)
    return [_dump_database(_embedded[folder], folder, n) for n in names]


def close() -> None:
    """Flush every embedded database, then close and forget all clients."""
    for folder in [f for f in _dirty if f in _embedded]:
        _flush_folder(folder)
    for c in [*_servers.values(), *_embedded.values()]:
        c.close()
    _servers.clear()
    _embedded.clear()


atexit.register(close)


def _patch_mongomock() -> None:
    """Teach mongomock ``$round`` (half to even, as the server does), which 4.3 lacks."""
    from mongomock import aggregate as agg

    if "$round" not in agg.arithmetic_operators:
        original: Any = agg._Parser._handle_arithmetic_operator

        def handle(self: Any, operator: str, values: Any) -> Any:
            if operator != "$round":
                return original(self, operator, values)
            number, places = (list(values) + [0])[:2] if isinstance(values, list) else (values, 0)
            value = self.parse(number)
            return None if value is None else round(value, int(self.parse(places)))

        setattr(agg._Parser, "_handle_arithmetic_operator", handle)  # noqa: B010
        agg.arithmetic_operators = agg.arithmetic_operators | {"$round"}


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


def bulk_upsert(
    db: str,
    collection: str,
    docs: Iterable[Mapping[str, Any]],
    key_fields: Sequence[str],
    batch_size: int = 1000,
) -> dict[str, int]:
    """Replace-or-insert each document by its key-derived ``_id``: reruns never duplicate.

    Unordered bulk ``ReplaceOne(upsert=True)`` on a server; delete-then-insert per batch on
    mongomock 4.3 (it cannot run pymongo 4's ``ReplaceOne``, and scans per ``replace_one``)."""
    if not key_fields:
        raise KspyderError(f"upserts into {db}.{collection} need key fields")
    coll = _db(db)[collection]
    counts = {"inserted": 0, "replaced": 0}
    known = {repr(d["_id"]) for d in coll.find({}, {"_id": 1})} if is_embedded() else set()
    for batch in _batches(docs, batch_size):
        unique = {repr(d["_id"]): d for d in _with_ids(batch, key_fields)}  # last one wins
        if is_embedded():
            again = [d["_id"] for k, d in unique.items() if k in known]
            if again:
                coll.delete_many({"_id": {"$in": again}})
            coll.insert_many(list(unique.values()))
            known.update(unique)
            counts["replaced"] += len(again)
            counts["inserted"] += len(unique) - len(again)
        else:
            ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in unique.values()]
            result = coll.bulk_write(ops, ordered=False)
            counts["inserted"] += result.upserted_count
            counts["replaced"] += result.matched_count
        _touch(db)
    return counts


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
        _touch(db)
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
    _touch(db)
    return total


def ensure_indexes(db: str, collection: str, indexes: Sequence[Index]) -> list[str]:
    """Create the declared indexes (ascending keys; idempotent); returns their names."""
    coll = _db(db)[collection]
    names = [
        coll.create_index([(k, pymongo.ASCENDING) for k in idx.keys], unique=idx.unique)
        for idx in indexes
    ]
    if names:
        _touch(db)
    return names


def aggregate(db: str, collection: str, stages: list[Doc]) -> list[Doc]:
    """Run an aggregation pipeline; plain Python documents back."""
    try:
        rows = list(_db(db)[collection].aggregate(stages, allowDiskUse=True))
    except NotImplementedError as exc:
        raise KspyderError(
            f"the embedded stand-in (mongomock) cannot run this pipeline: {exc} "
            f"Set {URI_ENV} to run it on a MongoDB server."
        ) from None
    except (PyMongoError, mongomock.OperationFailure) as exc:
        raise KspyderError(f"aggregation on {db}.{collection} failed: {exc}") from None
    return [cast(Doc, plain(r)) for r in rows]


def explain(db: str, collection: str, stages: list[Doc]) -> Doc:
    """The server's query plan of a pipeline (``explain`` command, queryPlanner verbosity)."""
    if is_embedded():
        raise KspyderError(
            "explain is not supported by the embedded stand-in (mongomock): "
            f"set {URI_ENV} to a MongoDB server to see the query plan"
        )
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
    _touch(db)


def drop_database(db: str) -> None:
    """Drop a whole database (no error when absent)."""
    client().drop_database(db)
    _touch(db)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A throwaway database name (never persisted), dropped on exit: for fixture tests."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        client().drop_database(name)
