"""Incremental REST loading: the dlt ``incremental`` of a model and the value it sends."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from dlt.extract.incremental import Incremental

from extract.lookback import lag_of, parse_utc
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
    """A ``dlt.sources.incremental`` on the record field ``spec.cursor``.

    ``lookback`` is also dlt's ``lag``: the records the earlier parameter value brings back
    (late or back-dated ones) pass dlt's filter instead of being dropped as already seen.
    """
    if spec is None:
        return None
    return dlt.sources.incremental(
        cursor_path=spec.cursor,
        initial_value=_iso(spec.initial_value),
        end_value=_iso(spec.end_value),
        row_order=spec.row_order,
        lag=lag_of(spec),
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


def _comparable(value: Any) -> Any:
    """A datetime for ISO timestamps (any offset or ``Z``), the number itself, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return parse_utc(value)
    return None


def older_than(records: list[Any], field: str, sent: Any) -> int:
    """Records whose cursor ``field`` is below the value sent in the incremental parameter:
    an endpoint that honours the parameter never returns them."""
    bound = _comparable(sent)
    if bound is None:
        return 0
    older = 0
    for record in records:
        value = _comparable(record.get(field)) if isinstance(record, dict) else None
        if value is not None and type(value) is type(bound) and value < bound:
            older += 1
    return older
