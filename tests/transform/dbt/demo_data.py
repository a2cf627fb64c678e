"""Load the demo sources into a warehouse the way extraction does, for dbt tests.

ERP: the real SQL extraction (``extract.load.extract_source``) from the demo SQLite file.
CRM: the demo CRM records (``demo.crm.CrmStore``) run through dlt with the
manifest's extract-time PII map, so the tables look like the REST engine's (nested dicts
flattened to ``parent__child``, dlt's ``_dlt_load_id``/``_dlt_id`` columns).
"""

from __future__ import annotations

import copy
import shutil
import uuid
from pathlib import Path

import dlt

from demo.crm import CrmStore
from demo.erp import build_erp
from demo.people import people
from extract import project
from extract.load import extract_source
from extract.manifest.loader import parse_source
from extract.manifest.typing import Source
from extract.pii import record_transformer
from extract.warehouse import Warehouse

REPO_MANIFESTS = project.ROOT / "manifests"
# the models `kspyder transform` builds from the demo sources
MODELS = {
    "stg_erp__customers",
    "stg_erp__products",
    "stg_erp__orders",
    "stg_erp__invoices",
    "stg_crm__customers",
    "stg_crm__contacts",
    "stg_crm__deals",
    "customer_lifetime_value",
    "monthly_revenue",
}
CUSTOMERS = 300
ORDERS = 2000
CRM_TIMESTAMPS = {"created_at", "updated_at", "contacted_at"}


def install_manifests(folder: Path, names: tuple[str, ...] = ("erp", "crm")) -> dict[str, Source]:
    """Copy the repository's manifests into ``folder`` and parse them."""
    sources = {}
    for name in names:
        shutil.copy(REPO_MANIFESTS / f"{name}.yml", folder / f"{name}.yml")
        sources[name] = parse_source(folder / f"{name}.yml")
    return sources


def load_erp(source: Source, warehouse: Warehouse, customers: int = CUSTOMERS) -> None:
    """Build the demo ERP SQLite under ``$KSPYDER_HOME/demo`` and extract it."""
    build_erp(project.demo_dir() / "erp.sqlite", customers=customers, orders=ORDERS)
    results = extract_source(source, warehouse)
    failed = [r for r in results if r.status != "ok"]
    assert not failed, failed


def load_crm(source: Source, warehouse: Warehouse, customers: int = CUSTOMERS) -> None:
    """Load the demo CRM records into the ``crm`` schema with the manifest's PII map."""
    store = CrmStore(customers)
    tables = {"customers": store.customers, "contacts": store.contacts, "deals": store.deals}
    resources = []
    for name, rows in tables.items():
        model = source.models[name]
        resource = dlt.resource(
            copy.deepcopy(rows),
            name=name,
            primary_key=model.primary_key,
            write_disposition="merge",
            columns={c: {"data_type": "timestamp"} for c in CRM_TIMESTAMPS if c in rows[0]},
        )
        transform = record_transformer(model)
        if transform is not None:
            resource.add_map(transform)
        resources.append(resource)
    pipeline = dlt.pipeline(
        pipeline_name=f"test_crm_{uuid.uuid4().hex[:8]}",
        pipelines_dir=str(project.pipelines_dir()),
        destination=warehouse.destination(),
        dataset_name=source.name,
    )
    pipeline.run(resources).raise_on_failed_jobs()


def pii_values(customers: int = CUSTOMERS) -> dict[str, set[str]]:
    """Every personal value of the demo people, by kind (names compared whole)."""
    found: dict[str, set[str]] = {k: set() for k in ("email", "phone", "iban", "name", "street")}
    for person in people(customers):
        found["email"].add(person["email"].lower())
        found["phone"].add(person["phone"])
        found["iban"].add(person["iban"])
        found["name"].update({person["first_name"].lower(), person["last_name"].lower()})
        found["street"].add(person["street"].lower())
    return found
