"""Every path kspyder uses, resolved in one place (like Dagster's ``project.py``).

The repository root holds ``manifests/``, ``dbt_project/`` and ``mongo_pipelines/``; local
state (dlt pipelines, the DuckDB warehouse, demo databases, outputs) lives under
``.kspyder/`` unless ``KSPYDER_HOME`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE_PREFIX = "kspyder_"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def home() -> Path:
    """Local state folder (``.kspyder/`` at the repo root, or ``$KSPYDER_HOME``)."""
    return _env_path("KSPYDER_HOME", ROOT / ".kspyder")


def manifests_dir() -> Path:
    """Folder of source manifests (``$KSPYDER_MANIFESTS`` overrides)."""
    return _env_path("KSPYDER_MANIFESTS", ROOT / "manifests")


def dbt_project_dir() -> Path:
    """The dbt project (``$KSPYDER_DBT_PROJECT`` overrides)."""
    return _env_path("KSPYDER_DBT_PROJECT", ROOT / "dbt_project")


def mongo_pipelines_dir() -> Path:
    """Folder of YAML aggregation pipelines (``$KSPYDER_MONGO_PIPELINES`` overrides)."""
    return _env_path("KSPYDER_MONGO_PIPELINES", ROOT / "mongo_pipelines")


def pipelines_dir() -> Path:
    """dlt's pipelines folder: pass it to ``dlt pipeline --pipelines-dir``."""
    return home() / "pipelines"


def duckdb_path() -> Path:
    """The embedded default warehouse (``$KSPYDER_DUCKDB_PATH`` overrides)."""
    return _env_path("KSPYDER_DUCKDB_PATH", home() / "warehouse.duckdb")


def outputs_dir() -> Path:
    """Where aggregation outputs and file extracts go by default."""
    return home() / "outputs"


def report_dir() -> Path:
    """Where ``kspyder report`` writes the static HTML report."""
    return outputs_dir() / "report"


def demo_dir() -> Path:
    """Where the demo source databases are generated."""
    return home() / "demo"


def schema_file() -> Path:
    """The committed JSON Schema of manifests."""
    return ROOT / "manifests" / "manifest.schema.json"


def pipeline_name(source: str) -> str:
    """dlt pipeline name of a source: ``kspyder_<source>`` (stable, documented)."""
    return f"{PIPELINE_PREFIX}{source}"


def export_env() -> None:
    """Expose ``KSPYDER_HOME`` to manifests (``${KSPYDER_HOME}``) and to dbt's profiles."""
    import os as _os

    _os.environ.setdefault("KSPYDER_HOME", str(home()))
    _os.environ.setdefault("KSPYDER_DUCKDB_PATH", str(duckdb_path()))
    # Prefect's local database lives with the rest of the expendable state, unless a
    # Prefect server or profile is configured
    if "PREFECT_API_URL" not in _os.environ:
        _os.environ.setdefault("PREFECT_HOME", str(home() / "prefect"))
        # the first start creates and migrates the local database: slow on a busy machine
        _os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    _os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network calls out
