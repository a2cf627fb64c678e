"""Real dbt builds on a DuckDB file loaded with the demo ERP (extracted) and CRM."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from demo.erp import build_erp
from extract import project
from extract.load import extract_source
from extract.manifest.typing import Source
from extract.pii import pseudonym
from extract.warehouse import Warehouse, resolve
from flows.cli import build_app
from tests.helpers import query
from tests.transform.dbt.demo_data import CUSTOMERS, MODELS, ORDERS, load_erp
from transform.dbt import runner
from transform.dbt.runner import build_args, run_dbt

app = build_app()

pytestmark = pytest.mark.slow

STAGING = build_args(["staging"])


def _hashes(path: str) -> dict[int, str]:
    rows = query(path, "select customer_id, email_hash from staging.stg_erp__customers")
    return {int(r[0]): str(r[1]) for r in rows}


def test_build_models_tests_and_masking(duckdb_warehouse: Warehouse) -> None:
    result = run_dbt(["build"], duckdb_warehouse)
    assert result.success, result.failures
    assert set(result.models) == MODELS
    assert result.tests_failed == result.tests_errored == 0
    assert result.unit_tests_passed >= 7  # masking macros, matching, marts
    assert result.tests_passed >= 50

    path = duckdb_warehouse.location
    clv = query(
        path,
        "select count(*), count(erp_customer_id), count(crm_customer_id), "
        "sum(case when is_matched then 1 else 0 end), sum(lifetime_value) "
        "from marts.customer_lifetime_value",
    )[0]
    assert clv[:4] == (CUSTOMERS, CUSTOMERS, CUSTOMERS, CUSTOMERS)  # everyone matched
    assert clv[4] > 0
    months = query(path, "select count(*), sum(invoiced_revenue) from marts.monthly_revenue")[0]
    # money: true -> staging holds numeric(18, 4): the mart's sum is exact, not a double's
    invoiced = query(path, "select sum(cast(amount as decimal(18, 4))) from erp.invoices")[0][0]
    assert months[0] >= 12
    assert isinstance(months[1], Decimal)
    assert months[1] == invoiced

    # a second build in the same process reuses the parsed manifest (a fresh copy of it)
    cached = dict(runner._manifests)
    again = run_dbt(["build"], duckdb_warehouse)
    assert again.success, again.failures
    assert runner._manifests == cached
    assert len(cached) == 1

    masked = query(
        path,
        "select first_name, last_name, phone from staging.stg_erp__customers "
        "union all select first_name, last_name, phone from staging.stg_crm__customers",
    )
    assert all(f.endswith("***") and len(f) == 4 for f, _, _ in masked)
    assert all(p.startswith("***") and len(p) == 5 for _, _, p in masked)
    street = query(
        path, "select distinct address_street, address_zip from staging.stg_crm__customers"
    )
    assert street == [("[redacted]", "[redacted]")]


def test_hashed_keys_match_across_sources_runs_and_keys(
    duckdb_warehouse: Warehouse, demo_sources: dict[str, Source], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_dbt(STAGING, duckdb_warehouse)
    assert first.success, first.failures
    path = duckdb_warehouse.location
    pairs = query(
        path,
        "select e.customer_id, c.customer_id from staging.stg_erp__customers e "
        "join staging.stg_crm__customers c on e.email_hash = c.email_hash",
    )
    assert len(pairs) == CUSTOMERS
    assert all(f"C{e:05d}" == c for e, c in pairs)  # same person on both sides
    before = _hashes(path)
    assert before[1] == pseudonym(_email(1), _key())

    # a second, full extraction and build gives the same pseudonyms
    build_erp(project.demo_dir() / "erp.sqlite", customers=CUSTOMERS, orders=ORDERS)
    results = extract_source(demo_sources["erp"], duckdb_warehouse, full_refresh=True)
    assert all(r.status == "ok" for r in results), results
    second = run_dbt(STAGING, duckdb_warehouse)
    assert second.success, second.failures
    assert _hashes(path) == before

    # another key gives other pseudonyms for the same people
    monkeypatch.setenv("KSPYDER_HMAC_KEY", "another-key-9876543210")
    other = resolve("duckdb:///" + str(Path(path).with_name("other.duckdb")))
    load_erp(demo_sources["erp"], other)
    third = run_dbt(build_args(["stg_erp__customers"]), other)
    assert third.success, third.failures
    rotated = _hashes(other.location)
    assert rotated.keys() == before.keys()
    assert all(rotated[k] != before[k] for k in before)


def _key() -> bytes:
    return os.environ["KSPYDER_HMAC_KEY"].encode()


def _email(person_id: int) -> str:
    from demo.people import person

    return str(person(person_id)["email"])


def test_transform_command_reports_and_fails(duckdb_warehouse: Warehouse) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["transform", "--select", "stg_erp__customers"])
    assert ok.exit_code == 0, ok.output
    assert "1 model(s) built" in ok.output
    con = duckdb.connect(duckdb_warehouse.location)
    con.execute("insert into erp.customers select * from erp.customers where customer_id = 1")
    con.close()
    failed = runner.invoke(app, ["transform", "--select", "stg_erp__customers"])
    assert failed.exit_code == 1
    assert "tests passed" in failed.output
    assert "failed 1" in failed.output


def test_plain_dbt_cli_from_the_project_folder(duckdb_warehouse: Warehouse, tmp_path: Path) -> None:
    """`cd dbt_project && dbt build` finds profiles.yml there and the env-driven target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env.update(
        KSPYDER_DUCKDB_PATH=duckdb_warehouse.location,
        DBT_TARGET_PATH=str(tmp_path / "target"),
        DBT_LOG_PATH=str(tmp_path / "logs"),
    )
    env.pop("KSPYDER_DBT_TARGET", None)
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [str(dbt), "build"],
        cwd=project.dbt_project_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "ERROR=0" in done.stdout
    assert "target='duckdb'" in done.stdout
