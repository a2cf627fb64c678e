"""Fixtures for document tests (a pytest plugin, see the root ``conftest.py``): a fake REST
builder, the demo cloud data in Mongo, and the demo API serving it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dlt
import pymongo
import pytest
from dlt.common.schema import Schema
from dlt.extract.source import DltSource

from demo.api import DemoApi, serve_demo_api
from demo.local import arm_environment
from extract import kinds, mongo
from extract.manifest.typing import Source
from extract.project import ROOT
from tests.helpers.cloud import load_demo_estate

Rows = Callable[[], Iterable[Any]]


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Each test starts without cached Mongo clients (its KSPYDER_HOME is new anyway)."""
    yield
    mongo.close()


@pytest.fixture
def fake_rest(monkeypatch: pytest.MonkeyPatch) -> dict[str, Rows]:
    """Replace the REST builder: each model yields what ``rows[model]()`` yields.

    Models keep their manifest incremental (a dlt ``incremental`` on the cursor field), and
    the generic hints and extract-time PII of ``build_source`` still apply.
    """
    rows: dict[str, Rows] = {}

    def build(source: Source, models: list[str] | None) -> DltSource:
        resources = [_resource(source, name, rows) for name in models or list(source.models)]
        return DltSource(Schema(source.name), source.name, resources)

    checks = kinds._kinds["rest"].checks
    monkeypatch.setitem(kinds._kinds, "rest", kinds.SourceKind(build, checks))
    return rows


def _resource(source: Source, name: str, rows: dict[str, Rows]) -> Any:
    spec = source.models[name].incremental
    if spec is None:

        def plain() -> Iterator[Any]:
            yield from rows[name]()

        return dlt.resource(plain, name=name)

    cursor = dlt.sources.incremental(spec.cursor, initial_value=spec.initial_value)

    def incremental(updated: Any = cursor) -> Iterator[Any]:
        yield from rows[name]()

    return dlt.resource(incremental, name=name)


@pytest.fixture(scope="module")
def demo_cloud(mongodb_server: str) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The demo estate in the database ``cloud`` (see ``load_demo_estate``), loaded once per
    test module: its tests only read it, and loading 3,600 VMs with their NICs and costs
    into the wire server is the slow part. Set up before the first test that asks for it,
    so the per-test clean-up (root ``conftest.py``) keeps it; dropped after the module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MONGODB_URI", mongodb_server)
        served = load_demo_estate(patch)
        mongo.close()
    yield served
    with pymongo.MongoClient(mongodb_server) as admin:
        admin.drop_database("cloud")


@pytest.fixture
def cloud_api(manifests_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoApi]:
    """The demo API on loopback, with manifests/cloud.yml pointed at it by env vars only."""
    shutil.copy(ROOT / "manifests" / "cloud.yml", manifests_dir / "cloud.yml")
    with serve_demo_api(rate_per_second=None) as api:
        for name, value in arm_environment(api.base_url).items():
            monkeypatch.setenv(name, value)
        yield api
