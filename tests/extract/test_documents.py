"""load_documents against a fake REST builder: dispositions, state, PII, isolation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extract import mongo
from extract.documents import STATE_COLLECTION, load_documents, read_state
from extract.errors import KspyderError
from extract.pii import hmac_key, pseudonym
from tests.helpers import load

MANIFEST = """
kind: rest
target: documents
client: {base_url: "http://127.0.0.1:9"}
models:
  things:
    endpoint: {path: /things}
    primary_key: id
    write_disposition: merge
    indexes:
      - keys: [owner.team]
      - keys: [id]
        unique: true
  events:
    endpoint: {path: /events}
    write_disposition: append
  snapshot:
    endpoint: {path: /snapshot}
    primary_key: [region, name]
    write_disposition: replace
  feed:
    endpoint: {path: /feed}
    primary_key: id
    write_disposition: merge
    incremental: {cursor: updated, initial_value: 0}
  people:
    endpoint: {path: /people}
    primary_key: id
    write_disposition: merge
    columns:
      email: drop
      owner_phone: {pii: drop, path: owner.phone}
      contact_secret: {pii: drop, path: contacts.secret}
      contact_name: {pii: hash, path: contacts.name}
"""


def _things(n: int, version: int = 1) -> list[dict[str, Any]]:
    return [
        {"id": i, "version": version, "Display Name": f"T{i}", "owner": {"team": "data",
         "camelCase": {"deep Key": [1, {"x-y": None}]}}}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def source(manifests_dir: Path) -> Any:
    return load(manifests_dir, "docs", MANIFEST)


def _one(results: list[Any]) -> Any:
    assert len(results) == 1
    return results[0]


def test_merge_twice_keeps_the_same_count_and_whole_documents(
    source: Any, fake_rest: dict[str, Any]
) -> None:
    fake_rest["things"] = lambda: [_things(120)]  # one page (a list) of records
    first = _one(load_documents(source, ["things"]))
    fake_rest["things"] = lambda: iter(_things(120, version=2))  # single records
    second = _one(load_documents(source, ["things"]))
    assert (first.status, first.rows) == ("ok", 120)
    assert first.extra == {"inserted": 120, "replaced": 0, "unchanged": 0}
    assert (second.rows, second.extra) == (120, {"inserted": 0, "replaced": 120, "unchanged": 0})
    third = _one(load_documents(source, ["things"]))  # the same documents again
    assert (third.rows, third.extra) == (120, {"inserted": 0, "replaced": 0, "unchanged": 120})
    assert mongo.count("docs", "things") == 120
    stored = mongo.read_document("docs", "things", 7)
    assert stored == {"_id": 7, **_things(8, version=2)[7]}  # original keys, nesting kept
    assert first.dataset == "docs"
    assert first.destination.startswith("mongodb://127.0.0.1:")
    names = set(mongo.client()["docs"]["things"].index_information())
    assert {"owner.team_1", "id_1"} <= names


def test_append_inserts_every_time(source: Any, fake_rest: dict[str, Any]) -> None:
    fake_rest["events"] = lambda: [{"kind": "a"}, {"kind": "b"}]
    load_documents(source, ["events"])
    load_documents(source, ["events"])
    assert mongo.count("docs", "events") == 4


def test_replace_keeps_the_old_collection_when_the_source_fails(
    source: Any, fake_rest: dict[str, Any]
) -> None:
    fake_rest["snapshot"] = lambda: [{"region": "eu", "name": n, "v": 1} for n in "abc"]
    assert _one(load_documents(source, ["snapshot"])).rows == 3

    def broken() -> Iterator[dict[str, Any]]:
        yield {"region": "eu", "name": "z", "v": 2}
        raise ConnectionError("upstream went away")

    fake_rest["snapshot"] = broken
    result = _one(load_documents(source, ["snapshot"]))
    assert result.status == "failed"
    assert "upstream went away" in (result.error or "")
    assert mongo.count("docs", "snapshot", {"v": 1}) == 3
    assert mongo.collection_counts("docs") == {"snapshot": 3}
    assert mongo.read_document("docs", "snapshot", {"region": "eu", "name": "a"}) is not None


def test_incremental_state_is_saved_only_after_a_complete_load(
    source: Any, fake_rest: dict[str, Any]
) -> None:
    feed = [{"id": i, "updated": i} for i in range(1, 4)]
    fake_rest["feed"] = lambda: list(feed)
    assert _one(load_documents(source, ["feed"])).rows == 3
    state = read_state("docs", "feed")
    assert (
        state["sources"]["docs"]["resources"]["feed"]["incremental"]["updated"]["last_value"] == 3
    )

    feed += [{"id": i, "updated": i} for i in range(4, 6)]
    assert _one(load_documents(source, ["feed"])).rows == 2  # only what is newer

    def broken() -> Iterator[dict[str, Any]]:
        yield {"id": 6, "updated": 6}
        raise TimeoutError("page 2 timed out")

    fake_rest["feed"] = broken
    assert _one(load_documents(source, ["feed"])).status == "failed"
    assert (
        read_state("docs", "feed")["sources"]["docs"]["resources"]["feed"]["incremental"][
            "updated"
        ]["last_value"]
        == 5
    )  # the cursor did not move: the rerun fetches id 6 again

    fake_rest["feed"] = lambda: list(feed) + [{"id": 6, "updated": 6}]
    assert _one(load_documents(source, ["feed"])).rows == 1
    assert mongo.count("docs", "feed") == 6
    assert _one(load_documents(source, ["feed"], full_refresh=True)).rows == 6
    assert mongo.count("docs", STATE_COLLECTION) == 1


def test_pii_paths_are_removed_or_hashed_in_nested_documents(
    source: Any, fake_rest: dict[str, Any]
) -> None:
    fake_rest["people"] = lambda: [
        {
            "id": 1,
            "email": "a@example.com",
            "owner": {"phone": "+33 6 12", "team": "data"},
            "contacts": [{"name": "Ann", "secret": "s1", "kind": "work"}, {"name": "Bob"}],
        }
    ]
    result = _one(load_documents(source, ["people"]))
    stored = mongo.read_document("docs", "people", 1)
    assert stored is not None
    key = hmac_key()
    assert stored == {
        "_id": 1,
        "id": 1,
        "owner": {"team": "data"},
        "contacts": [
            {"name": pseudonym("Ann", key), "kind": "work"},
            {"name": pseudonym("Bob", key)},
        ],
    }
    assert (result.pii_dropped, result.pii_hashed) == (3, 1)


def test_one_failing_model_does_not_stop_the_others(source: Any, fake_rest: dict[str, Any]) -> None:
    def broken() -> Iterator[dict[str, Any]]:
        raise PermissionError("401 Unauthorized")
        yield {}

    fake_rest["things"] = broken
    fake_rest["events"] = lambda: [{"kind": "a"}]
    fake_rest["snapshot"] = lambda: [{"region": "eu"}]  # no name: the key is incomplete
    results = {r.model: r for r in load_documents(source, ["things", "events", "snapshot"])}
    assert results["things"].status == "failed"
    assert "401" in (results["things"].error or "")
    assert results["snapshot"].status == "failed"
    assert "no primary key field 'name'" in (results["snapshot"].error or "")
    assert results["events"].status == "ok"
    assert mongo.count("docs", "events") == 1


def test_non_document_items_fail_the_model(source: Any, fake_rest: dict[str, Any]) -> None:
    fake_rest["events"] = lambda: ["just a string"]
    result = _one(load_documents(source, ["events"]))
    assert result.status == "failed"
    assert "must be a mapping" in (result.error or "")


def test_documents_persist_in_the_embedded_store(
    source: Any, fake_rest: dict[str, Any], kspyder_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONGODB_URI")
    fake_rest["things"] = lambda: _things(3)
    result = _one(load_documents(source, ["things"]))
    assert result.destination == f"embedded SecantusDB ({kspyder_home / 'mongo'})"
    mongo.stop_embedded()  # the next use starts a new server on the same files
    assert mongo.count("docs", "things") == 3
    assert (kspyder_home / "mongo" / "data" / "WiredTiger").exists()


def test_warehouse_sources_and_unknown_models_are_refused(source: Any, manifests_dir: Path) -> None:
    wh = load(manifests_dir, "wh", "kind: rest\nclient: {base_url: 'http://x'}\nmodels: [a]\n")
    with pytest.raises(KspyderError, match="not documents"):
        load_documents(wh)
    with pytest.raises(KspyderError, match="Invalid model"):
        load_documents(source, ["nope"])


def test_hashed_documents_keep_one_key_per_database(
    source: Any, fake_rest: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The fingerprint of the HMAC key is stored with the database; another key is refused
    before anything is written, and `pii rotate-key` re-hashes and records the new key."""
    from extract.pii_key import KeyMismatch
    from flows.stages import rotate_key_stage

    fake_rest["people"] = lambda: [{"id": 1, "contacts": [{"name": "Ann"}]}]
    assert _one(load_documents(source, ["people"])).status == "ok"
    first = mongo.read_document("docs", "people", 1)

    monkeypatch.setenv("KSPYDER_HMAC_KEY", "another-key-9876543210")
    fake_rest["people"] = lambda: [{"id": 2, "contacts": [{"name": "Bob"}]}]
    with pytest.raises(KeyMismatch, match=r"database 'docs'.*kspyder pii rotate-key"):
        load_documents(source, ["people"])
    assert mongo.count("docs", "people") == 1  # nothing written with the other key
    fake_rest["things"] = lambda: _things(2)
    assert _one(load_documents(source, ["things"])).status == "ok"  # no hashed field: loads

    rotated = rotate_key_stage(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    assert [(r["source"], r["model"], r["status"]) for r in rotated] == [("docs", "people", "ok")]
    assert mongo.read_document("docs", "people", 2) == {
        "_id": 2,
        "id": 2,
        "contacts": [{"name": pseudonym("Bob", hmac_key())}],
    }
    assert mongo.read_document("docs", "people", 1) is None
    assert first is not None
    fake_rest["people"] = lambda: [{"id": 3, "contacts": [{"name": "Cy"}]}]
    assert _one(load_documents(source, ["people"])).status == "ok"  # the new key is recorded
