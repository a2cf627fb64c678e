"""The same code paths against the MongoDB server of ``$MONGODB_URI``: the test run's wire
server (root ``conftest.py``), or any real MongoDB given in the environment of the run
(``KSPYDER_TEST_MONGODB_URI=mongodb://... pytest`` points the whole suite at it instead).
Each test works in its own database, dropped afterwards."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo import cloud
from extract import mongo
from extract.documents import load_documents
from extract.manifest.typing import IdNormalization, Index
from extract.project import ROOT
from extract.rest.records import normalized
from tests.helpers import load
from tests.helpers.cloud import vms_by
from transform.aggregate import check_fixture, explain_pipeline, load_pipelines, run_pipeline

pytestmark = pytest.mark.mongodb


@pytest.fixture
def server_db() -> Iterator[str]:
    """A fresh database name on the server, dropped afterwards."""
    name = f"kspyder_t_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        mongo.drop_database(name)


def test_upsert_replace_and_indexes(server_db: str) -> None:
    assert not mongo.is_embedded()
    docs = [{"id": i, "nested": {"A b": i}} for i in range(50)]
    assert mongo.bulk_upsert(server_db, "t", docs, ["id"], batch_size=20)["inserted"] == 50
    assert mongo.bulk_upsert(server_db, "t", docs, ["id"]) == {
        "inserted": 0,
        "replaced": 0,
        "unchanged": 50,
    }
    assert mongo.count(server_db, "t") == 50
    assert mongo.ensure_indexes(server_db, "t", [Index(keys=["nested.A b"])]) == ["nested.A b_1"]

    def failing() -> Iterator[dict[str, Any]]:
        yield {"id": 1}
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        mongo.replace_collection(server_db, "t", failing(), ["id"])
    assert mongo.collection_counts(server_db) == {"t": 50}
    assert mongo.replace_collection(server_db, "t", docs[:5], ["id"]) == 5
    assert mongo.count(server_db, "t") == 5


def test_load_documents_on_a_server(
    server_db: str, manifests_dir: Path, fake_rest: dict[str, Any]
) -> None:
    manifest = (
        "kind: rest\ntarget: documents\nclient: {base_url: 'http://127.0.0.1:9'}\n"
        "models:\n  vms:\n    endpoint: {path: /vms}\n    primary_key: id\n"
        "    write_disposition: merge\n    incremental: {cursor: properties.timeCreated}\n"
        "    columns:\n      admin: {pii: drop, path: properties.osProfile.adminUsername}\n"
    )
    source = load(manifests_dir, server_db, manifest)
    fake_rest["vms"] = cloud.vms
    assert load_documents(source)[0].rows == cloud.VM_COUNT
    assert load_documents(source)[0].rows == 0  # incremental: nothing newer
    assert mongo.count(server_db, "vms") == cloud.VM_COUNT
    assert (
        mongo.count(server_db, "vms", {"properties.osProfile.adminUsername": {"$exists": True}})
        == 0
    )


def test_demo_pipelines_on_a_server(
    server_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in (ROOT / "mongo_pipelines").glob("*.yml"):
        text = path.read_text().replace("database: cloud", f"database: {server_db}")
        (tmp_path / path.name).write_text(text)
    shutil.copy(ROOT / "mongo_pipelines" / "pipeline.schema.json", tmp_path)
    monkeypatch.setenv("KSPYDER_MONGO_PIPELINES", str(tmp_path))
    for pipeline in load_pipelines().values():
        result = check_fixture(pipeline)
        assert result is not None
        assert result.passed, (result.expected, result.actual)
    served = {"vms": cloud.vms(), "network_interfaces": cloud.network_interfaces()}
    for name, docs in served.items():
        lowered = normalized(docs, IdNormalization())
        mongo.bulk_upsert(server_db, name, lowered, ["id"])
    json_path = run_pipeline("vms_by_option", {"option": "enableIPForwarding"})[0]
    expected = vms_by({"vms": cloud.vms(), "network_interfaces": cloud.network_interfaces()},
                      "enableIPForwarding")  # fmt: skip
    assert json.loads(Path(json_path).read_text()) == expected
    plan = explain_pipeline("vms_by_option", {})
    assert "queryPlanner" in str(plan) or "stages" in plan
