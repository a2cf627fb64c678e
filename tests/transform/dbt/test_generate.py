"""Staging generation: committed files fresh, checksums protect edits, warehouse columns win."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from extract import project
from extract.manifest.loader import load_manifests
from extract.manifest.typing import Source
from extract.warehouse import Warehouse
from tests.helpers import load
from tests.transform.dbt.demo_data import REPO_MANIFESTS
from transform.dbt.columns import snapshot_path
from transform.dbt.generate import file_state, generate, staging_dir, stale_files

REPO_DBT = project.ROOT / "dbt_project"

SHOP = """\
kind: sql
description: A small shop
connection:
  url: sqlite:///shop.db
defaults:
  write_disposition: merge
models:
  clients:
    primary_key: id
    incremental: {cursor: updated_at}
    columns:
      email: {pii: hash, description: Email pseudonym}
      full_name: mask
      mobile: mask
      iban: drop
      street: redact
  order_lines:
    primary_key: [order_id, line]
"""


def test_committed_staging_matches_the_generator() -> None:
    """Fails when a manifest (or the generator) changed without `kspyder dbt generate`."""
    sources = load_manifests(REPO_MANIFESTS)
    stale = stale_files(sources, REPO_DBT)
    assert stale == [], f"stale generated files, run `kspyder dbt generate`: {stale}"
    for name in ("erp", "crm"):
        assert snapshot_path(name, REPO_DBT).exists()
    assert not list((REPO_DBT / "models").rglob("*.json")), "bookkeeping stays out of models/"


@pytest.mark.parametrize("source", ["erp", "crm"])
def test_committed_staging_follows_the_template(source: str) -> None:
    folder = staging_dir(source, REPO_DBT)
    assert (folder / f"_{source}__sources.yml").exists()
    assert (folder / f"_{source}__models.yml").exists()
    models = sorted(folder.glob(f"stg_{source}__*.sql"))
    assert len(models) >= 3
    for path in models:
        text = path.read_text()
        assert file_state(path) == "generated", path
        assert re.search(r"\bselect \*\s+from \{\{ source\(", text) is None
        assert "source as (" in text
        assert "renamed as (" in text
        assert text.rstrip().endswith("select * from renamed")
        code = re.sub(r"'[^']*'", "''", text)
        assert code == code.lower()  # lowercase SQL, string literals aside


def test_generate_from_the_manifest_alone(manifests_dir: Path, tmp_path: Path) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    report = generate({"shop": shop}, None, project_dir=tmp_path)
    folder = staging_dir("shop", tmp_path)
    assert sorted(p.name for p in report.by_action("created")) == [
        "_shop__models.yml",
        "_shop__sources.yml",
        "stg_shop__clients.sql",
        "stg_shop__order_lines.sql",
    ]
    assert set(report.columns_from.values()) == {"manifest"}
    sql = (folder / "stg_shop__clients.sql").read_text()
    assert "iban" not in sql  # dropped at extraction: never in staging
    assert "cast(id as varchar) as client_id," in sql
    assert "cast(email as varchar) as email_hash," in sql
    assert "{{ mask_text('full_name') }} as full_name," in sql
    assert "{{ mask_phone('mobile') }} as mobile," in sql
    assert "{{ redact('street') }} as street" in sql
    models = (folder / "_shop__models.yml").read_text()
    assert "unique_combination" in models  # composite key order_id + line
    assert stale_files({"shop": shop}, tmp_path) == []


def test_edited_files_are_kept_unless_forced(manifests_dir: Path, tmp_path: Path) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    generate({"shop": shop}, None, project_dir=tmp_path)
    path = staging_dir("shop", tmp_path) / "stg_shop__clients.sql"
    edited = path.read_text().replace("select * from renamed", "select * from renamed -- mine")
    path.write_text(edited)
    assert file_state(path) == "edited"

    report = generate({"shop": shop}, None, project_dir=tmp_path)
    assert report.by_action("skipped") == [path]
    assert path.read_text() == edited
    assert stale_files({"shop": shop}, tmp_path) == []  # edited files belong to people

    report = generate({"shop": shop}, None, force=True, project_dir=tmp_path)
    assert report.by_action("overwritten") == [path]
    assert file_state(path) == "generated"


def test_a_manifest_change_makes_files_stale(manifests_dir: Path, tmp_path: Path) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    generate({"shop": shop}, None, project_dir=tmp_path)
    changed = load(manifests_dir, "shop", SHOP.replace("full_name: mask", "full_name: redact"))
    stale = stale_files({"shop": changed}, tmp_path)
    assert {p.name for p in stale} == {
        "_shop__sources.yml",
        "_shop__models.yml",
        "stg_shop__clients.sql",
    }


def _warehouse_with_clients(path: Path) -> Warehouse:
    con = duckdb.connect(str(path))
    con.execute("create schema shop")
    con.execute(
        "create table shop.clients (id bigint, email varchar, full_name varchar, mobile varchar,"
        " street varchar, loyalty_tier varchar, signed_up timestamptz, updated_at timestamp,"
        " _dlt_load_id varchar, _dlt_id varchar)"
    )
    con.close()
    return Warehouse("duckdb", str(path))


def test_warehouse_columns_win_and_are_snapshotted(manifests_dir: Path, tmp_path: Path) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    warehouse = _warehouse_with_clients(tmp_path / "w.duckdb")
    report = generate({"shop": shop}, warehouse, project_dir=tmp_path / "dbt")
    assert report.columns_from == {"shop.clients": "warehouse", "shop.order_lines": "manifest"}
    folder = staging_dir("shop", tmp_path / "dbt")
    sql = (folder / "stg_shop__clients.sql").read_text()
    assert "cast(id as bigint) as client_id," in sql
    assert "cast(loyalty_tier as varchar) as loyalty_tier," in sql
    assert "cast(signed_up at time zone 'UTC' as timestamp) as signed_up," in sql
    assert "_dlt_" not in sql
    assert not list(folder.glob("*.json"))
    snapshot = json.loads(snapshot_path("shop", tmp_path / "dbt").read_text())
    assert list(snapshot["models"]["clients"])[:2] == ["id", "email"]
    assert "_dlt_id" not in snapshot["models"]["clients"]
    # without the warehouse, the snapshot reproduces the same files
    again = generate({"shop": shop}, None, project_dir=tmp_path / "dbt")
    assert again.columns_from["shop.clients"] == "snapshot"
    assert {f.action for f in again.files} == {"unchanged"}
    assert stale_files({"shop": shop}, tmp_path / "dbt") == []


def test_removed_models_lose_their_generated_file(manifests_dir: Path, tmp_path: Path) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    generate({"shop": shop}, None, project_dir=tmp_path)
    fewer: Source = shop.model_copy(update={"models": {"clients": shop.models["clients"]}})
    report = generate({"shop": fewer}, None, project_dir=tmp_path)
    assert [p.name for p in report.by_action("removed")] == ["stg_shop__order_lines.sql"]


def test_document_sources_are_not_generated(manifests_dir: Path, tmp_path: Path) -> None:
    docs = load(
        manifests_dir,
        "inventory",
        """\
        kind: rest
        target: documents
        client: {base_url: "http://127.0.0.1:1"}
        models:
          vms: {endpoint: {path: /vms}}
        """,
    )
    report = generate({"inventory": docs}, None, project_dir=tmp_path)
    assert report.files == []
    assert not staging_dir("inventory", tmp_path).exists()


LEDGER = """\
kind: sql
connection:
  url: sqlite:///ledger.db
models:
  accounts:
    primary_key: account_id
    incremental: {cursor: updated_at}
  entries:
    primary_key: entry_id
    incremental: {cursor: booked_on}
    columns:
      account_id: {references: accounts}
      counter_account: {references: accounts.account_id}
      amount: {money: true}
      rate: {type: double}
"""
LEDGER_COLUMNS = {
    "accounts": {"account_id": "bigint", "updated_at": "timestamp"},
    "entries": {"entry_id": "bigint", "account_id": "bigint", "counter_account": "bigint",
                "amount": "double", "rate": "double", "booked_on": "text"},
}  # fmt: skip


def test_references_money_and_freshness_are_generated(manifests_dir: Path, tmp_path: Path) -> None:
    import yaml

    ledger = load(manifests_dir, "ledger", LEDGER)
    snap = snapshot_path("ledger", tmp_path)
    snap.parent.mkdir(parents=True)
    snap.write_text(json.dumps({"source": "ledger", "models": LEDGER_COLUMNS}))
    generate({"ledger": ledger}, None, project_dir=tmp_path)
    folder = staging_dir("ledger", tmp_path)
    sql = (folder / "stg_ledger__entries.sql").read_text()
    assert "cast(amount as numeric(18, 4)) as amount" in sql  # money: exact decimals
    assert "cast(rate as double precision) as rate" in sql  # not money: stays a double
    models = yaml.safe_load((folder / "_ledger__models.yml").read_text())["models"]
    entries = {c["name"]: c for c in models[1]["columns"]}
    expected = {"to": "ref('stg_ledger__accounts')", "field": "account_id"}
    for column in ("account_id", "counter_account"):
        assert entries[column]["data_tests"] == [{"relationships": {"arguments": expected}}]
    tables = yaml.safe_load((folder / "_ledger__sources.yml").read_text())["sources"][0]["tables"]
    config = {t["name"]: t.get("config") for t in tables}
    assert config["accounts"] == {
        "loaded_at_field": "updated_at",
        "freshness": {"warn_after": {"count": 1, "period": "day"}},
    }
    assert config["entries"] is None  # a text cursor says nothing about time


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nowhere", "Invalid model: nowhere. Available options: accounts, entries"),
        ("entries", "model 'entries' has no single-column primary_key"),
    ],
)
def test_a_wrong_reference_is_reported_at_its_key(
    manifests_dir: Path, reference: str, message: str
) -> None:
    from extract.errors import ConfigError

    text = LEDGER.replace("primary_key: entry_id", "primary_key: [entry_id, line]").replace(
        "{references: accounts}", f"{{references: {reference}}}"
    )
    with pytest.raises(ConfigError) as info:
        load(manifests_dir, "ledger", text)
    assert "ledger.yml:12 models.entries.columns.account_id.references: " + message in str(
        info.value
    )
