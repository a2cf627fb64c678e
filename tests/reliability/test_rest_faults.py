"""Faults injected into the demo REST API, loaded end to end into DuckDB by ``extract_source``.

Each fault hits page 2 of the ``deals`` model (cursor pagination, incremental, merge): a
transient one must be retried until the final rows are exact; a permanent one must fail the
model with an error naming source, model and page, commit nothing of the run (no row of its
page 1 lands) and leave the incremental cursor where it was; the next clean run recovers.
Unit-level versions of some faults (FakeApi, no warehouse) live in
``tests/extract/rest/test_rest_retries.py``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from demo.api import DemoApi, serve_demo_api
from extract.load import ModelResult, extract_source
from extract.manifest.typing import Source
from extract.rest.transport import MIN_DELAY
from extract.warehouse import Warehouse, resolve
from tests.helpers import query
from tests.reliability.helpers import (
    DEALS_LIMIT,
    count_and_distinct,
    crm_manifest,
    cursor,
    pending_packages,
    source_from,
)

TOUCHED = list(range(1, 121))  # 120 deals updated between runs: pages of 50, 50, 20
TOUCHED_AT = "2026-02-01T00:00:00Z"
PAGE_2 = "source 'crm' model 'deals' page 2"
Fault = tuple[str, int, dict[str, Any]]  # kind, times, options


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoApi]:
    """The demo API on loopback (no server-side rate limit: faults are injected on purpose)."""
    with serve_demo_api(rate_per_second=None, people_n=200) as handle:
        monkeypatch.setenv("CRM_TOKEN", handle.token)
        yield handle


def _crm(api: DemoApi, manifests_dir: Path, timeout: float = 5.0) -> Source:
    return source_from(manifests_dir, "crm", crm_manifest(api.base_url, timeout=timeout))


def _run(source: Source, warehouse: Warehouse, model: str = "deals") -> ModelResult:
    return extract_source(source, warehouse, [model])[0]


def _expected_deals(api: DemoApi) -> tuple[int, str]:
    deals = api.crm.deals
    return len(deals), max(d["updated_at"] for d in deals)


def _on_page_2(api: DemoApi, path: str, faults: list[Fault]) -> int:
    """Let page 1 through, then inject ``faults`` in order; returns the fault uses queued."""
    api.add_fault(path, "slow", 1, delay=0)  # a pass-through that consumes page 1
    for kind, times, opts in faults:
        api.add_fault(path, kind, times, **opts)
    return sum(times for _, times, _ in faults)


def _planned_sleeps(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits the transport announced before each retry (``retry 1/3 in 1.02 s``)."""
    found = []
    for record in caplog.records:
        match = re.search(r"retry \d+/\d+ in ([\d.]+) s", record.getMessage())
        if match:
            found.append(float(match.group(1)))
    return found


@dataclass
class Transient:
    """A fault the client must absorb: retried (or stepped over) with exact final rows."""

    name: str
    injected: str
    faults: Callable[[], list[Fault]]
    min_retries: int
    min_sleep: float = 0.0
    timeout: float = 5.0
    expected: str = "retried; final rows exact, cursor at the newest record"
    not_served: int = 0  # records the fault itself withholds (the emptied page)


TRANSIENT = [
    Transient(
        "429 with Retry-After in seconds",
        "HTTP 429, Retry-After: 1 on page 2",
        lambda: [("status", 1, {"status": 429, "retry_after": 1})],
        min_retries=1,
        min_sleep=1.0,
        expected="waits >= 1 s as asked, then retried; final rows exact",
    ),
    Transient(
        "429 with Retry-After as an HTTP date",
        "HTTP 429, Retry-After: <HTTP date 3 s ahead> on page 2",
        lambda: [
            ("status", 1, {"status": 429, "retry_after": formatdate(time.time() + 3, usegmt=True)})
        ],
        min_retries=1,
        min_sleep=1.0,
        expected="waits until the date, then retried; final rows exact",
    ),
    Transient(
        "429 with Retry-After: 0",
        "HTTP 429, Retry-After: 0, three times on page 2",
        lambda: [("status", 3, {"status": 429, "retry_after": 0})],
        min_retries=3,
        min_sleep=MIN_DELAY,
        expected=f"no hot loop (every wait >= {MIN_DELAY} s); final rows exact",
    ),
    Transient(
        "500/502/503 burst",
        "HTTP 500, 502 then 503 on page 2",
        lambda: [
            ("status", 1, {"status": 500}),
            ("status", 1, {"status": 502}),
            ("status", 1, {"status": 503}),
        ],
        min_retries=3,
    ),
    Transient(
        "connection reset mid-body",
        "page 2: half the body sent, then TCP RST (SO_LINGER 0)",
        lambda: [("reset", 1, {})],
        min_retries=1,
    ),
    Transient(
        "read timeout",
        "page 2 answered after 1.5 s; client timeout 0.5 s",
        lambda: [("slow", 1, {"delay": 1.5})],
        min_retries=1,
        timeout=0.5,
    ),
    Transient(
        "empty page in the middle (cursor paginator)",
        "page 2: no records, has_more true, next cursor after its records",
        lambda: [("empty", 1, {})],
        min_retries=0,
        expected="the walk goes on past the empty page; every record served is loaded",
        not_served=DEALS_LIMIT,
    ),
    Transient(
        "30 MB page",
        "page 2 padded to 30 MB of JSON",
        lambda: [("huge", 1, {"mb": 30})],
        min_retries=0,
        expected="parsed and loaded; final rows exact",
    ),
]


@pytest.mark.parametrize("spec", TRANSIENT, ids=[t.name for t in TRANSIENT])
def test_transient_fault_is_absorbed(
    spec: Transient,
    api: DemoApi,
    manifests_dir: Path,
    reliability: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="extract.rest.transport")
    source = _crm(api, manifests_dir, timeout=spec.timeout)
    warehouse = resolve()
    uses = _on_page_2(api, "/crm/deals", spec.faults())
    result = _run(source, warehouse)
    total, newest = _expected_deals(api)
    expected_rows = total - spec.not_served
    rows, distinct = count_and_distinct(warehouse, "crm.deals", "id")
    sleeps = _planned_sleeps(caplog)
    retries = result.extra.get("retries", 0)
    exact = result.status == "ok" and rows == distinct == expected_rows
    reliability.record(
        case=f"REST {spec.name}",
        injected=spec.injected,
        expected=spec.expected,
        faults=uses,
        survived=int(exact and cursor("crm", "deals") == newest),
        rows_lost=expected_rows - distinct,
        duplicates=rows - distinct,
        notes=f"{retries} retries; waits {', '.join(f'{s:.2f}' for s in sleeps) or 'none'} s",
    )
    assert result.status == "ok", result.error
    assert (rows, distinct) == (expected_rows, expected_rows)
    assert cursor("crm", "deals") == newest
    assert api.faults.pending() == [], "a fault was not consumed: the request never came"
    assert retries >= spec.min_retries
    assert len(sleeps) >= spec.min_retries
    assert all(s >= spec.min_sleep for s in sleeps), sleeps  # computed waits, not wall time


@dataclass
class Permanent:
    """A fault that must fail the model cleanly (nothing committed, cursor unmoved)."""

    name: str
    injected: str
    faults: list[Fault]
    message: str
    names_page: bool = True  # see test_pagination_loop_error_names_the_page


PERMANENT = [
    Permanent(
        "5xx beyond max_attempts",
        "HTTP 503 on every attempt (4 of 4) of page 2",
        [("status", 4, {"status": 503})],
        "HTTP 503 Service Unavailable after 4 attempts",
    ),
    Permanent(
        "200 with an HTML page",
        "page 2: HTTP 200, text/html error page",
        [("html", 1, {})],
        "HTTP 200 returned an HTML page instead of JSON",
    ),
    Permanent(
        "truncated JSON",
        "page 2: HTTP 200, body cut in half (Content-Length matches)",
        [("truncated", 1, {})],
        "invalid or truncated JSON",
    ),
    Permanent(
        "pagination loop",
        "page 2 answers with the cursor it was sent (has_more true)",
        [("loop", 5, {})],
        "pagination loop",
        names_page=False,
    ),
]


@pytest.mark.parametrize("spec", PERMANENT, ids=[p.name for p in PERMANENT])
def test_permanent_fault_fails_cleanly_then_recovers(
    spec: Permanent, api: DemoApi, manifests_dir: Path, reliability: Any
) -> None:
    source = _crm(api, manifests_dir)
    warehouse = resolve()
    assert _run(source, warehouse).status == "ok"
    before = cursor("crm", "deals")
    api.touch_deals(TOUCHED, TOUCHED_AT)
    uses = _on_page_2(api, "/crm/deals", spec.faults)

    failed = _run(source, warehouse)
    rows, distinct = count_and_distinct(warehouse, "crm.deals", "id")
    leaked = query(
        warehouse.location, f"select count(*) from crm.deals where updated_at >= '{TOUCHED_AT}'"
    )
    after_failure = cursor("crm", "deals")
    pending = pending_packages("crm")
    api.clear_faults()

    recovered = _run(source, warehouse)
    total, _ = _expected_deals(api)
    final_rows, final_distinct = count_and_distinct(warehouse, "crm.deals", "id")
    updated = query(
        warehouse.location, f"select count(*) from crm.deals where updated_at >= '{TOUCHED_AT}'"
    )[0][0]
    clean = (
        failed.status == "failed"
        and rows == total
        and leaked == [(0,)]
        and after_failure == before
        and pending == ([], [])
    )
    reliability.record(
        case=f"REST {spec.name}",
        injected=spec.injected,
        expected="model fails naming source/model/page; no row of the run committed; "
        "cursor unchanged; next run loads the 120 updates",
        faults=uses,
        survived=int(clean and recovered.status == "ok" and updated == len(TOUCHED)),
        rows_lost=total - final_distinct + (len(TOUCHED) - updated),
        duplicates=final_rows - final_distinct,
        notes=(failed.error or "")[:160],
    )
    assert failed.status == "failed"
    assert spec.message in (failed.error or "")
    assert PAGE_2 in (failed.error or "") or not spec.names_page
    assert (rows, distinct) == (total, total)
    assert leaked == [(0,)], "rows of the failed run's page 1 were committed"
    assert after_failure == before, "the incremental cursor moved on a failed run"
    assert pending == ([], []), "the failed run left a load package behind"
    assert recovered.status == "ok", recovered.error
    assert recovered.rows == len(TOUCHED)
    assert updated == len(TOUCHED)
    assert (final_rows, final_distinct) == (total, total)
    assert cursor("crm", "deals") == TOUCHED_AT


def test_pagination_loop_error_names_the_page(
    api: DemoApi, manifests_dir: Path, reliability: Any
) -> None:
    source = _crm(api, manifests_dir)
    uses = _on_page_2(api, "/crm/deals", [("loop", 5, {})])
    result = _run(source, resolve())
    named = PAGE_2 in (result.error or "")
    reliability.record(
        case="REST pagination loop: the error names the page",
        injected="page 2 answers with the cursor it was sent",
        expected=f'ModelResult.error contains "{PAGE_2}"',
        faults=uses,
        survived=int(result.status == "failed" and named),
        notes=(result.error or "")[:160],
    )
    assert result.status == "failed"
    assert named, result.error


@pytest.mark.parametrize(
    ("model", "path", "expected"),
    [("customers", "/crm/customers", 200 - 20), ("contacts", "/crm/contacts", 600 - 100)],
)
def test_empty_page_in_the_middle_of_a_known_total(
    model: str, path: str, expected: int, api: DemoApi, manifests_dir: Path, reliability: Any
) -> None:
    source = _crm(api, manifests_dir)
    warehouse = resolve()
    api.add_fault(path, "slow", 2, delay=0)  # pages 1 and 2 pass
    api.add_fault(path, "empty", 1)  # page 3 withholds its records; pages 4.. are served
    result = _run(source, warehouse, model)
    rows, distinct = count_and_distinct(warehouse, f"crm.{model}", "id")
    reliability.record(
        case=f"REST empty page in the middle ({model}: {path}, total known)",
        injected="page 3: no records while the first page declared the total",
        expected="all pages loaded, or the model fails naming the page",
        survived=int(
            (result.status == "ok" and distinct == expected)
            or (result.status == "failed" and "page 3" in (result.error or ""))
        ),
        rows_lost=expected - distinct if result.status == "ok" else 0,
        duplicates=rows - distinct,
        notes=f"status {result.status}, {distinct} of {expected} rows",
    )
    if result.status == "failed":
        assert "page 3" in (result.error or "")
    else:
        assert distinct == expected, f"run reported ok with {distinct} of {expected} rows"
