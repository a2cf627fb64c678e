"""Cursor values shared by SQL and REST models: ISO timestamps read as UTC, and the re-read
window (``incremental.lookback``) as dlt's ``lag``."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from extract.manifest.typing import Incremental


def parse_utc(value: str) -> datetime | None:
    """An ISO timestamp (any offset or ``Z``) as an aware datetime, UTC when it names no zone;
    None for text that is not one."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_date(value: Any) -> bool:
    if isinstance(value, datetime):
        return False
    if isinstance(value, date):
        return True
    return isinstance(value, str) and len(value.strip()) == 10 and value[4:5] == "-"


def lag_of(spec: Incremental) -> float | None:
    """dlt's ``lag`` for a lookback in seconds: dlt counts days for date cursors, so a
    lookback of a few hours on a date cursor re-reads one whole day."""
    if not spec.lookback:
        return None
    if _is_date(spec.initial_value):
        return float(math.ceil(spec.lookback / 86400))
    return float(spec.lookback)
