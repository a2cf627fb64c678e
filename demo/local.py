"""The demo's local sources: the ERP SQLite file and the demo REST API on a free port.

``demo_sources()`` prepares both, exports the variables the demo manifests read
(``CRM_API_URL``, ``CRM_API_TOKEN``, the ``AZURE_*`` of manifests/cloud.yml, the HMAC key
file), and stops the API afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from extract import project
from extract.pii import HMAC_KEY_ENV, HMAC_KEY_FILE_ENV
from extract.secrets import register_secret


def ensure_hmac_key() -> None:
    """Use the configured key, or create a local one (kept, so pseudonyms stay stable)."""
    if os.environ.get(HMAC_KEY_ENV) or os.environ.get(HMAC_KEY_FILE_ENV):
        return
    path = project.home() / "hmac.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    os.environ[HMAC_KEY_FILE_ENV] = str(path)


def ensure_erp(orders: int = 50_000) -> str:
    """Build the demo ERP SQLite database if it is missing; returns its SQLAlchemy URL."""
    from demo.erp import build_erp

    path = project.demo_dir() / "erp.sqlite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        build_erp(path, orders=orders)
    return f"sqlite:///{path}"


def arm_environment(base_url: str) -> dict[str, str]:
    """The variables manifests/cloud.yml reads, pointed at the demo API's ARM side."""
    from demo import cloud
    from demo.api import ARM_CLIENT_ID, ARM_CLIENT_SECRET

    return {
        "AZURE_MANAGEMENT_URL": base_url,
        "AZURE_LOGIN_URL": base_url,
        "AZURE_TENANT_ID": cloud.TENANT_ID,
        "AZURE_CLIENT_ID": ARM_CLIENT_ID,
        "AZURE_CLIENT_SECRET": ARM_CLIENT_SECRET,
    }


@contextmanager
def demo_sources(rate_per_second: float = 50.0) -> Iterator[str]:
    """Start the demo sources; yields the demo API's base URL."""
    from demo.api import serve_demo_api

    project.export_env()
    ensure_hmac_key()
    ensure_erp()
    token = secrets.token_urlsafe(24)
    register_secret(token)
    with serve_demo_api(token=token, rate_per_second=rate_per_second, burst=10) as api:
        exported = {
            "CRM_API_URL": api.base_url,
            "CRM_API_TOKEN": token,
            **arm_environment(api.base_url),
        }
        saved = {k: os.environ.get(k) for k in exported}
        os.environ.update(exported)
        try:
            yield api.base_url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
