"""The per-source request budget, measured by the server and as a property of the bucket."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extract.rest import build_rest_source
from extract.rest.throttle import GUARD_SECONDS, RateBudget


def most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


@pytest.fixture
def paged_api() -> Iterator[str]:
    """The paged API in its own process: arrival times free of this process's GIL."""
    script = Path(__file__).with_name("paged_server.py")
    command = [sys.executable, str(script), "10"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def arrivals(url: str) -> list[float]:
    with urllib.request.urlopen(f"{url}/_hits") as response:
        return sorted(hit[2] for hit in json.loads(response.read()))


def crm(url: str, rate: str, models: list[str]) -> str:
    body = "\n".join(f"  {m}: {{endpoint: {{path: /{m}, concurrency: 4}}}}" for m in models)
    return f"""
kind: rest
client:
  base_url: {url}
  rate_limit: {rate}
  paginator: {{type: page_number, total_pages_path: total_pages}}
models:
{body}
"""


def test_declared_rate_holds_at_the_server(paged_api, manifest):
    """5/s with burst 1: never more than 5 arrivals in any 1 s window, threads included."""
    source = build_rest_source(manifest(crm(paged_api, "{requests_per_second: 5}", ["items"])))
    assert [r["page"] for r in source.resources["items"]] == list(range(1, 11))
    times = arrivals(paged_api)
    assert most_in_window(times, 1.0) <= 5
    assert times[-1] - times[0] >= (10 - 1) / 5 - 0.05


def test_budget_is_shared_by_models_and_threads(paged_api, manifest):
    """10/s with burst 3 across two models fetched at once, each with 4 threads."""
    text = crm(paged_api, "{requests_per_second: 10, burst: 3}", ["accounts", "deals"])
    source = build_rest_source(manifest(text))
    got: dict[str, list[Any]] = {}

    def pull(name: str) -> None:
        got[name] = [r["page"] for r in source.resources[name]]

    threads = [threading.Thread(target=pull, args=(n,)) for n in ("accounts", "deals")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == {"accounts": list(range(1, 11)), "deals": list(range(1, 11))}
    times = arrivals(paged_api)
    assert most_in_window(times, 1.0) <= 10
    assert times[2] - times[0] < 0.1  # the burst left back to back
    assert times[-1] - times[0] >= (20 - 3) / 10 - 0.05


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=20),
    per_minute=st.booleans(),
    gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=120),
)
def test_no_window_exceeds_the_declared_rate(rate, burst, per_minute, gaps):
    clock = FakeClock()
    window = 60.0 if per_minute else 1.0
    budget = RateBudget(rate, window, burst, clock=clock, sleep=clock.sleep)
    sent = []
    for gap in gaps:
        clock.now += gap * window / 10
        sent.append(budget.reserve())
    limit = max(1, int(rate))
    assert most_in_window(sent, window + GUARD_SECONDS * 0.99) <= limit
    assert sent == sorted(sent)


def test_burst_then_steady_spacing():
    clock = FakeClock()
    budget = RateBudget(4, 1.0, burst=3, clock=clock, sleep=clock.sleep)
    sent = [budget.reserve() for _ in range(7)]
    # three at once, one per interval, then the rolling window holds the rest back
    expected = [0, 0, 0, 0.25, 1 + GUARD_SECONDS, 1 + GUARD_SECONDS, 1 + GUARD_SECONDS]
    assert all(abs(a - b) < 1e-9 for a, b in zip(sent, expected, strict=True))
    assert budget.acquire() == 1.25 + GUARD_SECONDS
