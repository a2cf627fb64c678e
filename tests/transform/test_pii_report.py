"""The PII report: classified columns and where they are handled, unclassified suspects."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from demo.people import people
from extract.warehouse import Warehouse, resolve
from flows.cli import build_app
from tests.helpers import load, write_manifest
from transform.pii_report import UNCLASSIFIED, name_suspicion, pii_report, value_kind

app = build_app()

SHOP = """\
kind: sql
connection:
  url: sqlite:///shop.db
models:
  customers:
    primary_key: customer_id
    columns:
      email: {pii: hash}
      first_name: mask
      phone: mask
      iban: drop
      street: redact
      city: keep
  products:
    primary_key: product_id
"""


def _warehouse(path: Path, extra: str | None = None, values: list[str] | None = None) -> Warehouse:
    """A DuckDB file with shop.customers (as extracted) and shop.products."""
    con = duckdb.connect(str(path))
    con.execute("create schema shop")
    con.execute(
        "create table shop.customers (customer_id bigint, email varchar, first_name varchar, "
        "phone varchar, street varchar, city varchar, note varchar, _dlt_id varchar)"
    )
    folks = people(40)
    con.executemany(
        "insert into shop.customers values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (p["person_id"], "ab" * 32, p["first_name"], p["phone"], p["street"], p["city"],
             "call back later", "x")
            for p in folks
        ],
    )  # fmt: skip
    con.execute("create table shop.products (product_id bigint, name varchar, sku varchar)")
    con.execute("insert into shop.products values (1, 'Smart Lamp', 'HOM-00001')")
    if extra:
        con.execute(f"alter table shop.customers add column {extra} varchar")
        for p, value in zip(folks, values or [], strict=False):
            con.execute(
                f"update shop.customers set {extra} = ? where customer_id = ?",
                [value, p["person_id"]],
            )
    con.close()
    return Warehouse("duckdb", str(path))


def test_classified_columns_and_where_they_are_handled(manifests_dir: Path, tmp_path: Path) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    rows = pii_report({"shop": shop}, _warehouse(tmp_path / "w.duckdb"))
    table = {(r.model, r.column): (r.strategy, r.applied) for r in rows}
    assert table == {
        ("customers", "email"): ("hash", "extract (dlt map)"),
        ("customers", "first_name"): ("mask", "dbt staging macro"),
        ("customers", "phone"): ("mask", "dbt staging macro"),
        ("customers", "iban"): ("drop", "extract (dlt map)"),
        ("customers", "street"): ("redact", "dbt staging macro"),
        ("customers", "city"): ("keep", "stored as is"),
    }
    assert not any(r.suspect for r in rows)  # products.name is not a person's name


@pytest.mark.parametrize(
    ("column", "values", "evidence"),
    [
        ("mobile_phone", [p["phone"] for p in people(40)], "name matches"),
        ("mobile_phone", [p["phone"] for p in people(40)], "look like phones"),
        ("contact_info", [p["email"] for p in people(40)], "look like emails"),
        ("payout", [p["iban"] for p in people(40)], "look like ibans"),
        ("date_of_birth", ["1990-01-01"] * 40, "name matches"),
    ],
)
def test_unclassified_personal_columns_are_flagged(
    manifests_dir: Path, tmp_path: Path, column: str, values: list[str], evidence: str
) -> None:
    shop = load(manifests_dir, "shop", SHOP)
    warehouse = _warehouse(tmp_path / "w.duckdb", column, values)
    suspects = [r for r in pii_report({"shop": shop}, warehouse) if r.suspect]
    assert [(r.model, r.column, r.strategy) for r in suspects] == [
        ("customers", column, UNCLASSIFIED)
    ]
    assert evidence in suspects[0].evidence


def test_declaring_the_column_clears_the_flag(manifests_dir: Path, tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", "mobile_phone", [p["phone"] for p in people(9)])
    declared = SHOP.replace("      city: keep\n", "      city: keep\n      mobile_phone: mask\n")
    shop = load(manifests_dir, "shop", declared)
    rows = pii_report({"shop": shop}, warehouse)
    assert not any(r.suspect for r in rows)
    assert ("mobile_phone", "mask") in {(r.column, r.strategy) for r in rows}


def test_without_a_warehouse_names_still_count(manifests_dir: Path) -> None:
    text = SHOP.replace("  products:\n", "  users:\n    columns:\n      name: {}\n  products:\n")
    shop = load(manifests_dir, "shop", text)
    suspects = [r for r in pii_report([shop], None) if r.suspect]
    assert [(r.model, r.column) for r in suspects] == [("users", "name")]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("jane.doe@example.com", "email"),
        ("+33 6 12 34 56 78", "phone"),
        ("(555) 010-9999", "phone"),
        ("FR7630004000031234567890143", "iban"),
        ("FR76 3000 4000 0312 3456 7890 143", "iban"),
        ("FR7630004000031234567890144", None),  # bad checksum
        ("2024-01-05 10:00:00", None),
        ("2024-01-05", None),
        ("12345678", None),
        ("email", None),
        ("HOM-00001", None),
    ],
)
def test_value_kinds(value: str, kind: str | None) -> None:
    assert value_kind(value) == kind


@pytest.mark.parametrize(
    ("model", "column", "suspect"),
    [
        ("customers", "email", True),
        ("customers", "e_mail_address", True),
        ("customers", "mobile", True),
        ("customers", "address__street", True),
        ("customers", "address__city", False),
        ("customers", "email_verified", False),
        ("customers", "name", True),
        ("products", "name", False),
        ("orders", "amount", False),
        ("customers", "birthdate", True),
        ("customers", "ssn", True),
    ],
)
def test_name_suspicion(model: str, column: str, suspect: bool) -> None:
    assert (name_suspicion(model, column) is not None) is suspect


def test_cli_exit_codes_and_json(manifests_dir: Path, kspyder_home: Path) -> None:
    write_manifest(manifests_dir, "shop", SHOP)
    runner = CliRunner()
    clean = runner.invoke(app, ["pii", "report"])
    assert clean.exit_code == 0, clean.output
    assert "extract (dlt map)" in clean.output

    _warehouse(kspyder_home / "warehouse.duckdb", "mobile_phone", [p["phone"] for p in people(9)])
    flagged = runner.invoke(app, ["pii", "report", "--json"])
    assert flagged.exit_code == 3, flagged.output
    rows = [json.loads(line) for line in flagged.stdout.splitlines() if line.startswith("{")]
    suspects = [r for r in rows if r["suspect"]]
    assert [r["column"] for r in suspects] == ["mobile_phone"]
    assert resolve().location == str(kspyder_home / "warehouse.duckdb")
