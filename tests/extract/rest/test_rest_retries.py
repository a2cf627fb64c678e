"""Retries (429 with Retry-After, 5xx, resets), and failures that commit nothing."""

from __future__ import annotations

import time
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from rest_helpers import Reply, failure, rows

from extract.manifest.typing import Retry
from extract.rest import build_rest_source, rest_stats
from extract.rest.transport import MIN_DELAY, Backoff, retry_after_seconds


def crm(api: Any, retry: str = "{max_attempts: 3, backoff_factor: 0}", extra: str = "") -> str:
    return f"""
kind: rest
client:
  base_url: {api.url}
  retry: {retry}
  paginator: {{type: page_number, total_pages_path: pages}}
models:
  items:
    endpoint: {{path: /items, data_selector: data}}
    primary_key: id
{extra}
"""


def flaky(api: Any, *failures: Reply) -> None:
    """/items: the given failures first, then two pages of records."""
    queue = list(failures)

    @api.route("/items")
    def items(hit):
        if queue:
            return queue.pop(0)
        page = int(hit.query["page"])
        return {"data": [{"id": page * 10 + i} for i in range(3)], "pages": 2}


def gaps(api: Any) -> list[float]:
    times = [h.at for h in api.calls("/items")]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def run(manifest: Any, text: str) -> list[Any]:
    return list(build_rest_source(manifest(text)).resources["items"])


def test_429_retry_after_seconds(api, manifest):
    flaky(api, Reply({"error": "slow down"}, 429, {"Retry-After": "1"}))
    assert len(run(manifest, crm(api))) == 6
    assert 1.0 <= gaps(api)[0] < 1.5
    assert rest_stats("crm")["items"] == {
        "requests": 3,
        "pages": 2,
        "retries": 1,
        "records": 6,
        "pauses": 0,
    }


def test_429_retry_after_http_date(api, manifest):
    when = formatdate(time.time() + 2, usegmt=True)
    flaky(api, Reply({"error": "slow down"}, 429, {"Retry-After": when}))
    assert len(run(manifest, crm(api))) == 6
    assert 0.9 <= gaps(api)[0] < 2.5


@pytest.mark.parametrize("value", ["0", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_retry_after_zero_or_past_is_not_a_hot_loop(api, manifest, value):
    flaky(api, *[Reply({}, 429, {"Retry-After": value})] * 3)
    assert len(run(manifest, crm(api, "{max_attempts: 4, backoff_factor: 0}"))) == 6
    assert all(gap >= MIN_DELAY * 0.95 for gap in gaps(api)[:3])


def test_max_delay_caps_retry_after(api, manifest):
    flaky(api, Reply({}, 503, {"Retry-After": "30"}))
    assert len(run(manifest, crm(api, "{max_attempts: 2, max_delay: 0.3}"))) == 6
    assert gaps(api)[0] < 1.0


def test_connection_reset_is_retried(api, manifest):
    flaky(api, Reply(drop=True))
    assert len(run(manifest, crm(api))) == 6
    assert rest_stats("crm")["items"]["retries"] == 1


def test_backoff_is_exponential_with_jitter():
    wait = Backoff(Retry(backoff_factor=1.0, max_delay=5.0))
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 5), (5, 5)], start=1):
        delays = {wait(SimpleNamespace(attempt_number=attempt, outcome=None)) for _ in range(20)}
        assert all(low <= d <= high for d in delays)
    assert Backoff(Retry(backoff_factor=0))(SimpleNamespace(attempt_number=1, outcome=None)) == (
        MIN_DELAY
    )


def test_retry_after_parsing():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(formatdate(1000.0 + 5, usegmt=True), now=1000.0) == 5.0
    assert retry_after_seconds(formatdate(1000.0 - 5, usegmt=True), now=1000.0) == -5.0


def test_truncated_json_names_source_model_url_and_page(api, manifest):
    flaky(api)
    api.routes[("GET", "/items")] = lambda hit: Reply(raw=b'{"data": [{"id": 1}, {"id"')
    err = str(failure(lambda: run(manifest, crm(api))))
    assert "source 'crm' model 'items' page 1" in err
    assert f"GET {api.url}/items?page=1" in err
    assert "invalid or truncated JSON" in err


def test_html_200_fails(api, manifest):
    page = b"<!doctype html><html><body>Please log in</body></html>"
    api.route("/items")(lambda hit: Reply(raw=page, headers={"Content-Type": "text/html"}))
    err = str(failure(lambda: run(manifest, crm(api))))
    assert "HTTP 200 returned an HTML page instead of JSON (text/html" in err
    assert "model 'items' page 1" in err


def test_failing_run_commits_nothing(api, manifest, pipeline):
    """503 until attempts run out on page 2 of a second run: no rows, no cursor move."""
    extra = "    incremental: {cursor: updated_at, param: since}\n    write_disposition: merge"
    text = crm(api, "{max_attempts: 3, backoff_factor: 0}", extra)

    @api.route("/items")
    def first(hit):
        page = int(hit.query["page"])
        stamp = f"2024-01-0{page}T00:00:00Z"
        return {"data": [{"id": page, "updated_at": stamp}], "pages": 2}

    pipe = pipeline()
    pipe.run(build_rest_source(manifest(text)))
    state = pipe.state["sources"]["crm"]["resources"]["items"]["incremental"]["updated_at"]
    assert state["last_value"] == "2024-01-02T00:00:00Z"

    @api.route("/items")
    def second(hit):
        page = int(hit.query["page"])
        if page == 2:
            return Reply({"error": "unavailable"}, 503)
        return {"data": [{"id": 3, "updated_at": "2024-01-03T00:00:00Z"}], "pages": 2}

    with pytest.raises(PipelineStepFailed) as info:
        pipe.run(build_rest_source(manifest(text)))
    assert "HTTP 503 Service Unavailable after 3 attempts" in str(info.value)
    assert "model 'items' page 2" in str(info.value)
    assert [h.query["since"] for h in api.calls()[-4:]] == ["2024-01-02T00:00:00Z"] * 4
    assert rest_stats("crm")["items"]["retries"] == 2
    assert rows(pipe, "select id from items order by id") == [(1,), (2,)]
    state = pipe.state["sources"]["crm"]["resources"]["items"]["incremental"]["updated_at"]
    assert state["last_value"] == "2024-01-02T00:00:00Z"
    assert pipe.list_extracted_load_packages() == []
    assert pipe.list_normalized_load_packages() == []
