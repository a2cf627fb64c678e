"""A small demo ERP (SQLite) as a SQL source, for flow tests."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import write_manifest

ERP_MANIFEST = """\
kind: sql
connection:
  url: sqlite:///{db}
  chunk_size: {chunk}
defaults:
  write_disposition: merge
models:
  customers:
    primary_key: customer_id
    incremental: {{cursor: updated_at, initial_value: 2000-01-01 00:00:00}}
    columns: {{email: hash, iban: drop}}
  orders:
    primary_key: order_id
    incremental: {{cursor: updated_at, initial_value: 2000-01-01 00:00:00}}
  events:
    write_disposition: append
    table: invoices
"""


GHOSTS = "  ghosts:\n    table: no_such_table\n    write_disposition: append\n"


def erp_source(tmp_path: Path, manifests_dir: Path, orders: int = 2000, chunk: int = 500) -> Path:
    """Build the demo ERP database under ``tmp_path`` and write its manifest ``erp``."""
    from demo.erp import build_erp

    db = tmp_path / "erp.sqlite"
    build_erp(db, customers=300, products=20, orders=orders)
    write_manifest(manifests_dir, "erp", ERP_MANIFEST.format(db=db, chunk=chunk))
    return db
