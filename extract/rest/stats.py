"""Per-model request counters of REST sources, for the run summary (thread-safe)."""

from __future__ import annotations

import threading
from collections import Counter

STAT_KEYS = ("requests", "pages", "retries", "records", "pauses")

_lock = threading.Lock()
_stats: dict[str, dict[str, Counter[str]]] = {}


def count(source: str, model: str, key: str, n: int = 1) -> None:
    """Add ``n`` to one counter (one of ``STAT_KEYS``)."""
    with _lock:
        _stats.setdefault(source, {}).setdefault(model, Counter())[key] += n


def start(source: str, models: list[str]) -> None:
    """Reset the counters of a source and list its models with zeros."""
    with _lock:
        _stats[source] = {model: Counter() for model in models}


def rest_stats(source_name: str) -> dict[str, dict[str, int]]:
    """Counters per model of the last or current run of a source in this process."""
    with _lock:
        models = _stats.get(source_name, {})
        return {m: {k: c[k] for k in STAT_KEYS} for m, c in models.items()}


def reset_rest_stats(source_name: str) -> None:
    """Forget the counters of a source."""
    with _lock:
        _stats.pop(source_name, None)
