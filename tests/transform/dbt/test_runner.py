"""The dbt runner's target selection, without running dbt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extract.errors import KspyderError
from extract.secrets import redact
from extract.warehouse import resolve
from transform.dbt.runner import (
    PASSWORD_ENV,
    build_args,
    patched_env,
    target_env,
)


def test_postgres_url_becomes_profile_env_with_a_scrubbed_password() -> None:
    env = target_env("postgres", "postgresql://loader:s3cr%40t-pw@db.internal:6543/dwh")
    assert env == {
        "KSPYDER_DBT_TARGET": "postgres",
        "KSPYDER_PG_HOST": "db.internal",
        "KSPYDER_PG_PORT": "6543",
        "KSPYDER_PG_USER": "loader",
        "KSPYDER_PG_DBNAME": "dwh",
        PASSWORD_ENV: "s3cr@t-pw",
    }
    assert PASSWORD_ENV.startswith("DBT_ENV_SECRET_")  # dbt scrubs these from its logs
    assert "s3cr@t-pw" not in redact("connecting with s3cr@t-pw")


def test_duckdb_target(kspyder_home: Path) -> None:
    assert resolve(None).location == str(kspyder_home / "warehouse.duckdb")
    target = resolve("duckdb:///" + str(kspyder_home / "x.duckdb"))
    kind, location = target.kind, target.location
    assert (kind, location) == ("duckdb", str(kspyder_home / "x.duckdb"))
    assert target_env(kind, location) == {
        "KSPYDER_DBT_TARGET": "duckdb",
        "KSPYDER_DUCKDB_PATH": location,
    }


def test_env_warehouse_and_bad_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSPYDER_WAREHOUSE", "postgresql://u@h/db")
    assert (resolve(None).kind, resolve(None).location) == ("postgres", "postgresql://u@h/db")
    with pytest.raises(KspyderError, match="Available options: duckdb, postgresql"):
        resolve("mysql://u@h/db")
    with pytest.raises(KspyderError, match="dbt cannot run"):
        target_env("files", "/tmp/out")


def test_patched_env_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSPYDER_PG_HOST", "before")
    monkeypatch.delenv("KSPYDER_PG_PORT", raising=False)
    with patched_env({"KSPYDER_PG_HOST": "during", "KSPYDER_PG_PORT": "1"}):
        assert os.environ["KSPYDER_PG_HOST"] == "during"
    assert os.environ["KSPYDER_PG_HOST"] == "before"
    assert "KSPYDER_PG_PORT" not in os.environ


def test_build_args() -> None:
    assert build_args() == ["build"]
    assert build_args(["marts", "tag:x"], full_refresh=True) == [
        "build",
        "--select",
        "marts",
        "tag:x",
        "--indirect-selection",
        "buildable",
        "--full-refresh",
    ]
