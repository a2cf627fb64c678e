"""Fixtures of the report tests: the demo estate in the embedded documents database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from extract import mongo
from tests.helpers.cloud import load_demo_estate


@pytest.fixture
def estate(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The served demo estate, loaded (ids normalised) into the database ``cloud``."""
    yield load_demo_estate(monkeypatch)
    mongo.close()
