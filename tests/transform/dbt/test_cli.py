"""`kspyder dbt generate` and `kspyder warehouse grant` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import build_app
from tests.helpers import write_manifest
from tests.transform.dbt.pg_roles import unique_roles

app = build_app()

SHOP = """\
kind: sql
connection:
  url: sqlite:///shop.db
models:
  customers:
    primary_key: id
    columns:
      email: hash
"""


def test_dbt_generate(manifests_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSPYDER_DBT_PROJECT", str(tmp_path / "dbt"))
    write_manifest(manifests_dir, "shop", SHOP)
    runner = CliRunner()
    first = runner.invoke(app, ["dbt", "generate"])
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == 3
    model = tmp_path / "dbt" / "models" / "staging" / "shop" / "stg_shop__customers.sql"
    model.write_text(model.read_text() + "-- a person was here\n")
    second = runner.invoke(app, ["dbt", "generate"])
    assert second.exit_code == 0
    assert "2 file(s) unchanged" in second.output
    assert "edited by hand" in second.output
    forced = runner.invoke(app, ["dbt", "generate", "--force"])
    assert "overwritten" in forced.output
    assert "a person was here" not in model.read_text()


def test_grant_on_duckdb_is_not_applicable(manifests_dir: Path) -> None:
    write_manifest(manifests_dir, "shop", SHOP)
    result = CliRunner().invoke(app, ["warehouse", "grant"])
    assert result.exit_code == 0, result.output
    assert "file-level" in result.output


@pytest.mark.postgres
def test_grant_on_postgres(manifests_dir: Path, pg_database: str) -> None:
    write_manifest(manifests_dir, "shop", SHOP)
    with unique_roles(pg_database) as roles:
        args = ["warehouse", "grant", "-w", pg_database]
        result = CliRunner().invoke(
            app, [*args, "--analyst-role", roles.analyst, "--loader-role", roles.loader]
        )
        assert result.exit_code == 0, result.output
        assert f"{roles.analyst}: reads staging, marts" in result.output
        assert "not loaded yet: shop" in result.output
