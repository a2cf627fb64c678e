"""The dbt side of kspyder: staging generated from manifests, and dbt run in process."""

from transform.dbt.generate import GenerateReport, generate, stale_files
from transform.dbt.runner import DbtResult, run_dbt

__all__ = ["DbtResult", "GenerateReport", "generate", "run_dbt", "stale_files"]
