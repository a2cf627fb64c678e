"""extract.mongo on the run's wire server: upserts, swaps, indexes, aggregate, explain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from extract import mongo
from extract.errors import KspyderError
from extract.manifest.typing import Index


def _docs(n: int, version: int = 1) -> list[dict[str, Any]]:
    return [{"id": i, "version": version, "nested": {"Key With Space": i}} for i in range(n)]


def test_upsert_twice_keeps_one_document_per_key() -> None:
    first = mongo.bulk_upsert("db", "things", _docs(25), ["id"], batch_size=10)
    second = mongo.bulk_upsert("db", "things", _docs(30, version=2), ["id"], batch_size=7)
    assert first == {"inserted": 25, "replaced": 0, "unchanged": 0}
    assert second == {"inserted": 5, "replaced": 25, "unchanged": 0}
    assert mongo.count("db", "things") == 30
    assert mongo.count("db", "things", {"version": 2}) == 30
    assert mongo.read_document("db", "things", 3) == {
        "_id": 3,
        "id": 3,
        "version": 2,
        "nested": {"Key With Space": 3},
    }


def test_duplicate_keys_in_one_batch_keep_the_last() -> None:
    docs = [{"id": 1, "v": "a"}, {"id": 1, "v": "b"}]
    assert mongo.bulk_upsert("db", "t", docs, ["id"])["inserted"] == 1
    assert mongo.find("db", "t") == [{"_id": 1, "id": 1, "v": "b"}]


def test_a_first_load_inserts_and_a_key_of_an_earlier_batch_is_replaced() -> None:
    """Into an empty collection batches are inserted; a key met again later still wins."""
    docs = [{"id": 1, "v": "a"}, {"id": 2, "v": "a"}, {"id": 3, "v": "a"}, {"id": 1, "v": "z"}]
    counts = mongo.bulk_upsert("db", "t", docs, ["id"], batch_size=2)
    assert counts == {"inserted": 3, "replaced": 1, "unchanged": 0}
    assert sorted(mongo.find("db", "t"), key=lambda d: d["_id"]) == [
        {"_id": 1, "id": 1, "v": "z"}, {"_id": 2, "id": 2, "v": "a"}, {"_id": 3, "id": 3, "v": "a"}
    ]  # fmt: skip
    again = mongo.bulk_upsert("db", "t", [{"id": 2, "v": "b"}, {"id": 4, "v": "b"}], ["id"])
    assert again == {"inserted": 1, "replaced": 1, "unchanged": 0}  # not empty: upserts
    assert mongo.count("db", "t") == 4


def test_a_rerun_writes_only_what_changed() -> None:
    """Unchanged documents are not written again; a changed one is, and a key met twice in
    one load ends as its last version even when that equals what was stored before."""
    mongo.bulk_upsert("db", "t", _docs(20), ["id"])
    mongo.client()["db"]["t"].update_one({"_id": 4}, {"$set": {"version": 9}})  # drifted
    again = mongo.bulk_upsert("db", "t", _docs(20), ["id"], batch_size=6)
    assert again == {"inserted": 0, "replaced": 1, "unchanged": 19}
    assert mongo.count("db", "t", {"version": 1}) == 20
    flip = [{"id": 5, "version": 2, "nested": {"Key With Space": 5}}, _docs(6)[5]]
    counts = mongo.bulk_upsert("db", "t", flip, ["id"], batch_size=1)
    assert counts == {"inserted": 0, "replaced": 2, "unchanged": 0}
    assert mongo.read_document("db", "t", 5) == {"_id": 5, **_docs(6)[5]}


def test_compound_and_nested_keys_give_deterministic_ids() -> None:
    doc = {"a": {"b": 2}, "c": "x"}
    assert mongo.document_id(doc, ["a.b", "c"]) == {"a.b": 2, "c": "x"}
    assert mongo.document_id(doc, ["c"]) == "x"
    mongo.bulk_upsert("db", "t", [doc, dict(doc)], ["a.b", "c"])
    assert mongo.count("db", "t") == 1
    with pytest.raises(KspyderError, match="no primary key field 'missing'"):
        mongo.bulk_upsert("db", "t", [doc], ["missing"])
    with pytest.raises(KspyderError, match="null primary key field 'c'"):
        mongo.bulk_upsert("db", "t", [{"c": None}], ["c"])


def test_replace_swaps_only_when_complete() -> None:
    mongo.replace_collection("db", "t", _docs(3), ["id"], [Index(keys=["version"])])

    def failing() -> Iterator[dict[str, Any]]:
        yield from _docs(5, version=2)
        raise RuntimeError("source broke mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        mongo.replace_collection("db", "t", failing(), ["id"], batch_size=2)
    assert mongo.count("db", "t") == 3
    assert mongo.count("db", "t", {"version": 1}) == 3
    assert mongo.collection_counts("db") == {"t": 3}  # no temporary collection left behind
    assert mongo.replace_collection("db", "t", _docs(4, version=3), ["id"]) == 4
    assert mongo.count("db", "t", {"version": 3}) == 4


def test_replace_with_nothing_leaves_an_empty_collection() -> None:
    mongo.insert("db", "t", _docs(2))
    assert mongo.replace_collection("db", "t", []) == 0
    assert mongo.collection_counts("db") == {"t": 0}


def test_indexes_are_created_once() -> None:
    indexes = [Index(keys=["a", "b.c"]), Index(keys=["id"], unique=True)]
    assert mongo.ensure_indexes("db", "t", indexes) == ["a_1_b.c_1", "id_1"]
    assert mongo.ensure_indexes("db", "t", indexes) == ["a_1_b.c_1", "id_1"]


def test_scratch_databases_are_dropped() -> None:
    with mongo.scratch_database() as db:
        mongo.insert(db, "t", [{"a": 1}])
        assert mongo.count(db, "t") == 1
    assert db not in mongo.client().list_database_names()


def test_aggregate_returns_plain_values_and_rounds() -> None:
    mongo.insert("db", "t", [{"x": 2.675}, {"x": 1.005}])
    rows = mongo.aggregate(
        "db", "t", [{"$project": {"r": {"$round": ["$x", 2]}, "z": {"$round": "$x"}}}]
    )
    assert [r["r"] for r in rows] == [round(2.675, 2), round(1.005, 2)]
    assert [r["z"] for r in rows] == [3, 1]
    assert all(isinstance(r["_id"], str) for r in rows)  # ObjectId -> str


def test_a_refused_pipeline_names_the_collection() -> None:
    mongo.insert("db", "t", [{"x": "abc"}])
    with pytest.raises(KspyderError, match="aggregation on db.t failed: .*nope"):
        mongo.aggregate("db", "t", [{"$project": {"y": {"$nope": "$x"}}}])


def test_explain_shows_the_index_the_server_picks() -> None:
    mongo.insert("db", "t", [{"k": i} for i in range(20)])
    mongo.ensure_indexes("db", "t", [Index(keys=["k"])])
    plan = mongo.explain("db", "t", [{"$match": {"k": 3}}])
    assert '"indexName": "k_1"' in json.dumps(plan, default=str), plan


def test_secantusdb_array_path_defect_is_still_there() -> None:
    """Pins a known SecantusDB defect: in an aggregation expression, ``"$arr.x"`` through an
    array of subdocuments evaluates to missing (MongoDB gives ``[1, 2]``). The shipped
    pipelines ``$unwind`` first or use ``$map``; when this fails, the release fixed it."""
    info = mongo.client().admin.command("buildInfo")
    if "secantusVersion" not in info:
        pytest.skip("the run's server is not SecantusDB")
    mongo.insert("db", "t", [{"arr": [{"x": 1}, {"x": 2}]}])
    mapped = {"$map": {"input": "$arr", "in": "$$this.x"}}
    rows = mongo.aggregate("db", "t", [{"$project": {"_id": 0, "path": "$arr.x", "map": mapped}}])
    assert rows[0]["map"] == [1, 2]  # the workaround
    assert mongo.count("db", "t", {"arr.x": 2}) == 1  # query filters were never affected
    assert "path" not in rows[0], (
        f"SecantusDB {info['secantusVersion']} now evaluates '$arr.x' through an array of "
        "subdocuments as MongoDB does: the $map/$unwind workaround may go, and this test too"
    )
