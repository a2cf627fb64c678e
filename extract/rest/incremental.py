"""Incremental REST loading: the dlt ``incremental`` of a model and the value it sends."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from dlt.extract.incremental import Incremental

from extract.manifest.typing import Incremental as IncrementalSpec


def _iso(value: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes; records carry ISO strings."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def make_incremental(spec: IncrementalSpec | None) -> Incremental[Any] | None:
    """A ``dlt.sources.incremental`` on the record field ``spec.cursor``."""
    if spec is None:
        return None
    return dlt.sources.incremental(
        cursor_path=spec.cursor,
        initial_value=_iso(spec.initial_value),
        end_value=_iso(spec.end_value),
        row_order=spec.row_order,
    )


def param_value(value: Any, lookback: int | None) -> Any:
    """The cursor value to send, ``lookback`` seconds earlier when it is an ISO timestamp.

    The format is kept (``Z`` or offset, date only); any other value is sent unchanged.
    """
    if not lookback or value is None:
        return _iso(value)
    if isinstance(value, datetime | date):
        value = _iso(value)
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if "T" not in value and " " not in value:  # a date: go back whole days
        days = math.ceil(lookback / 86400)
        return (parsed.date() - timedelta(days=days)).isoformat()
    fraction = re.search(r"[T ]\d\d:\d\d:\d\d\.(\d+)", value)
    timespec = "milliseconds" if fraction and len(fraction.group(1)) == 3 else "auto"
    earlier = (parsed - timedelta(seconds=lookback)).isoformat(sep=value[10], timespec=timespec)
    if value.endswith("Z"):
        earlier = earlier.replace("+00:00", "Z")
    return earlier
