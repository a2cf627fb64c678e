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
from pathlib import Path

from extract import project
from extract.pii import HMAC_KEY_ENV, HMAC_KEY_FILE_ENV, default_key_file
from extract.secrets import register_secret


def ensure_hmac_key() -> None:
    """Use the configured key, or the user's key file (created once, kept: pseudonyms must
    stay stable, so it lives in the user's config folder, not in the expendable .kspyder/)."""
    if os.environ.get(HMAC_KEY_ENV) or os.environ.get(HMAC_KEY_FILE_ENV):
        return
    path = default_key_file()
    if not path.exists():
        legacy = project.home() / "hmac.key"  # where earlier versions kept it
        create_key_file(path, legacy.read_text().strip() if legacy.exists() else None)
        if legacy.exists():
            legacy.unlink()
    os.environ[HMAC_KEY_FILE_ENV] = str(path)


def create_key_file(path: Path, value: str | None = None) -> bool:
    """Create ``path`` holding a new random key (or ``value``), atomically with mode 0600:
    the file never exists with wider permissions. False if it already existed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value or secrets.token_hex(32))
    return True


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
