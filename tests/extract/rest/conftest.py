"""Fixtures of the REST tests: the fake API, manifests loaded from YAML text, pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import dlt
import pytest
from rest_helpers import FakeApi

from extract.manifest.loader import parse_source
from extract.manifest.typing import Source


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a test that takes more than 10 s")


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def manifest(tmp_path: Path) -> Callable[..., Source]:
    """Write YAML text as ``<name>.yml`` in tmp_path and load it with the real loader."""

    def load(text: str, name: str = "crm") -> Source:
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        return parse_source(path)

    return load


@pytest.fixture
def pipeline(tmp_path: Path) -> Callable[[str], dlt.Pipeline]:
    """A dlt pipeline writing to a DuckDB file in tmp_path."""

    def make(name: str = "crm") -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=f"kspyder_{name}",
            pipelines_dir=str(tmp_path / "pipelines"),
            destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
            dataset_name=name,
        )

    return make
