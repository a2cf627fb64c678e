"""A first load of the demo cloud estate into an empty SecantusDB: upserts against inserts.

    python -m bench.mongo_first_load

Loads the 5,796 documents of the demo estate (ids normalised as manifests/cloud.yml says)
into a fresh in-memory server twice: once with ``ReplaceOne(upsert=True)`` batches (what
``extract.mongo.bulk_upsert`` did for every load) and once with ``insert_many`` (what it does
now into an empty collection). Prints the seconds of each and their ratio.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pymongo
from pymongo import ReplaceOne

from demo import cloud
from extract import mongo, mongo_server, project
from extract.manifest.loader import parse_source
from extract.rest.records import normalized

MODELS = ("subscriptions", "virtual_networks", "route_tables", "network_interfaces", "vms",
          "costs")  # fmt: skip


def _estate() -> dict[str, list[dict[str, Any]]]:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        os.environ.setdefault(name, "unused")
    models = parse_source(project.ROOT / "manifests" / "cloud.yml").models
    return {
        name: [
            {"_id": mongo.document_id(d, models[name].primary_key), **d}
            for d in normalized(copy.deepcopy(getattr(cloud, name)()), models[name].normalize_ids)
        ]
        for name in MODELS
    }


def main() -> None:
    estate = _estate()
    server = mongo_server.start(Path(tempfile.mkdtemp()), storage=":memory:")
    try:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.uri)
        started = time.perf_counter()
        for name, docs in estate.items():
            ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
            for i in range(0, len(ops), 1000):
                client["upserted"][name].bulk_write(ops[i : i + 1000], ordered=False)
        upserts = time.perf_counter() - started
        started = time.perf_counter()
        for name, docs in estate.items():
            for i in range(0, len(docs), 1000):
                client["inserted"][name].insert_many(docs[i : i + 1000], ordered=False)
        inserts = time.perf_counter() - started
    finally:
        server.stop()
    total = sum(len(d) for d in estate.values())
    print(f"{total} documents: upserts {upserts:.1f} s, inserts {inserts:.2f} s, "
          f"{upserts / inserts:.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
