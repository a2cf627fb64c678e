"""dlt warnings kspyder expects are logged at INFO; every other dlt warning still shows."""

from __future__ import annotations

import logging

import pytest

from extract.load import _quiet_benign_dlt_warnings

HINTS = (
    "In resource: orders, when merging arrow schema with dlt schema, several column hints "
    "were different. dlt schema hints were kept"
)


def _compute_tables(logger: logging.Logger, message: str) -> None:
    """Stands for dlt's function of that name (the filter matches on it)."""
    logger.warning(message)


def test_expected_dlt_warnings_are_info_and_others_stay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _quiet_benign_dlt_warnings()
    _quiet_benign_dlt_warnings()  # idempotent: one filter
    logger = logging.getLogger("dlt")
    assert sum(type(f).__name__ == "_BenignDltWarnings" for f in logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger="dlt"):
        _compute_tables(logger, HINTS)
        _compute_tables(logger, "some other problem")
        logger.warning(HINTS)  # same text from another function: not ours to hide
    assert [(r.levelname, r.getMessage()[:20]) for r in caplog.records] == [
        ("WARNING", "some other problem"),
        ("WARNING", HINTS[:20]),
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dlt"):
        _compute_tables(logger, HINTS)
    assert [r.levelname for r in caplog.records] == ["INFO"]
