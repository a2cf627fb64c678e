"""Fixtures for dbt tests: the repo's manifests, and a demo-loaded DuckDB warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extract.manifest.typing import Source
from extract.warehouse import Warehouse, resolve
from tests.transform.dbt.demo_data import install_manifests, load_crm, load_erp

HMAC_KEY = "test-hmac-key-0123456789"  # the key tests/conftest.py sets for every test


@pytest.fixture(autouse=True)
def _crm_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_API_TOKEN", "demo-token")
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):  # cloud.yml
        monkeypatch.setenv(name, "unused")
    monkeypatch.delenv("ERP_DATABASE_URL", raising=False)
    monkeypatch.delenv("KSPYDER_DBT_PROJECT", raising=False)
    monkeypatch.delenv("KSPYDER_ANALYST_ROLE", raising=False)


@pytest.fixture
def demo_sources(manifests_dir: Path) -> dict[str, Source]:
    """The repository's erp and crm manifests, copied into the test's manifests folder."""
    return install_manifests(manifests_dir)


@pytest.fixture(scope="session")
def _duckdb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file loaded once per session with the demo ERP and CRM."""
    home = tmp_path_factory.mktemp("demo_home")
    manifests = home / "manifests"
    manifests.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KSPYDER_HOME", str(home))
        mp.setenv("KSPYDER_DUCKDB_PATH", str(home / "warehouse.duckdb"))
        mp.setenv("KSPYDER_HMAC_KEY", HMAC_KEY)
        mp.setenv("CRM_API_TOKEN", "demo-token")
        mp.delenv("ERP_DATABASE_URL", raising=False)
        mp.delenv("KSPYDER_WAREHOUSE", raising=False)
        sources = install_manifests(manifests)
        warehouse = resolve()
        load_erp(sources["erp"], warehouse)
        load_crm(sources["crm"], warehouse)
    return home / "warehouse.duckdb"


@pytest.fixture
def duckdb_warehouse(_duckdb_template: Path, kspyder_home: Path) -> Warehouse:
    """This test's own copy of the demo-loaded DuckDB warehouse (the default location)."""
    shutil.copy(_duckdb_template, kspyder_home / "warehouse.duckdb")
    return resolve()
