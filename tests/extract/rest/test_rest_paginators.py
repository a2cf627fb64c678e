"""Each paginator style against the fake API, with the stop rules and the loop guard."""

from __future__ import annotations

from typing import Any

import pytest
from dlt.sources.helpers.rest_client.paginators import SinglePagePaginator
from rest_helpers import Reply, failure

from extract.errors import ConfigError
from extract.rest import build_rest_source, register_paginator, rest_stats

RECORDS = [{"id": i} for i in range(10)]


def crm(api: Any, paginator: str, endpoint: str = "", path: str = "/items") -> str:
    return f"""
kind: rest
client:
  base_url: {api.url}
models:
  items:
    endpoint:
      path: {path}
      paginator: {paginator}
{endpoint}
"""


def ids(source: Any) -> list[int]:
    return [r["id"] for r in source.resources["items"]]


def test_offset_with_total(api, manifest):
    @api.route("/items")
    def items(hit):
        start, size = int(hit.query["skip"]), int(hit.query["take"])
        return {"results": RECORDS[start : start + size], "count": len(RECORDS)}

    spec = "{type: offset, limit: 4, offset_param: skip, limit_param: take, total_path: count}"
    assert ids(build_rest_source(manifest(crm(api, spec)))) == list(range(10))
    assert [h.query["skip"] for h in api.calls()] == ["0", "4", "8"]


def test_offset_stops_on_empty_page(api, manifest):
    @api.route("/items")
    def items(hit):
        start = int(hit.query["offset"])
        return RECORDS[start : start + 5]

    assert ids(build_rest_source(manifest(crm(api, "{type: offset, limit: 5}")))) == list(range(10))
    assert [h.query["offset"] for h in api.calls()] == ["0", "5", "10"]


@pytest.mark.parametrize(
    ("spec", "requests"),
    [
        ("{type: page_number, total_pages_path: meta.pages}", 4),
        ("{type: page_number, total_path: meta.total, limit: 3, limit_param: size}", 4),
        ("{type: page_number}", 5),  # stop on the empty page
        ("{type: page_number, has_more_path: meta.more}", 4),
        ("{type: page_number, max_pages: 2}", 2),
    ],
)
def test_page_number(api, manifest, spec, requests):
    @api.route("/items")
    def items(hit):
        page = int(hit.query["page"])
        chunk = RECORDS[(page - 1) * 3 : page * 3]
        return {"data": chunk, "meta": {"pages": 4, "total": 10, "more": page < 4}}

    got = ids(build_rest_source(manifest(crm(api, spec))))
    assert got == (list(range(6)) if requests == 2 else list(range(10)))
    assert len(api.calls()) == requests
    if "limit" in spec:
        assert {h.query["size"] for h in api.calls()} == {"3"}


def test_page_number_base_page_zero(api, manifest):
    @api.route("/items")
    def items(hit):
        page = int(hit.query["p"])
        return {"data": RECORDS[page * 5 : page * 5 + 5], "pages": 2}

    spec = "{type: page_number, page_param: p, base_page: 0, total_pages_path: pages}"
    assert ids(build_rest_source(manifest(crm(api, spec)))) == list(range(10))
    assert [h.query["p"] for h in api.calls()] == ["0", "1"]


def test_cursor_in_query(api, manifest):
    @api.route("/items")
    def items(hit):
        start = int(hit.query.get("after", 0))
        nxt = start + 4 if start + 4 < 10 else None
        return {"items": RECORDS[start : start + 4], "paging": {"next": nxt}}

    spec = "{type: cursor, cursor_path: paging.next, cursor_param: after}"
    assert ids(build_rest_source(manifest(crm(api, spec)))) == list(range(10))
    assert [h.query.get("after") for h in api.calls()] == [None, "4", "8"]


def test_cursor_in_post_body(api, manifest):
    @api.route("/search", method="POST")
    def search(hit):
        start = int(hit.body["page"]["token"] or 0)
        assert hit.body["query"] == "all"
        return {"data": RECORDS[start : start + 5], "next": str(start + 5) if start < 5 else ""}

    spec = "{type: cursor, cursor_path: next, cursor_body_path: page.token}"
    endpoint = "      method: POST\n      json: {query: all, page: {token: null}}"
    assert ids(build_rest_source(manifest(crm(api, spec, endpoint, "/search")))) == list(range(10))


def test_cursor_has_more_and_empty_page(api, manifest):
    @api.route("/items")
    def items(hit):
        return {"data": RECORDS[:2], "cursor": "again-and-again", "has_more": False}

    spec = "{type: cursor, cursor_path: cursor, has_more_path: has_more}"
    assert ids(build_rest_source(manifest(crm(api, spec)))) == [0, 1]

    @api.route("/empty")
    def empty(hit):
        return {"data": [], "cursor": "x"}

    spec = "{type: cursor, cursor_path: cursor, stop_after_empty_page: true}"
    assert ids(build_rest_source(manifest(crm(api, spec, path="/empty")))) == []


def test_cursor_seen_twice_is_a_loop(api, manifest):
    @api.route("/items")
    def items(hit):
        return {"data": RECORDS[:2], "next": "abc"}  # the same cursor forever

    source = build_rest_source(manifest(crm(api, "{type: cursor, cursor_path: next}")))
    err = failure(lambda: list(source.resources["items"]))
    assert "pagination loop" in str(err)
    assert "source 'crm' model 'items' page 2" in str(err)
    assert len(api.calls()) == 2


def test_header_link(api, manifest):
    @api.route("/items")
    def items(hit):
        page = int(hit.query.get("page", 1))
        headers = {"Link": f'<{api.url}/items?page={page + 1}>; rel="next"'} if page < 3 else {}
        return Reply(RECORDS[(page - 1) * 4 : page * 4], headers=headers)

    assert ids(build_rest_source(manifest(crm(api, "header_link")))) == list(range(10))


def test_json_link_relative_and_loop(api, manifest):
    @api.route("/items")
    def items(hit):
        page = int(hit.query.get("page", 1))
        nxt = f"/items?page={page + 1}" if page < 3 else None
        return {"data": RECORDS[(page - 1) * 4 : page * 4], "links": {"next": nxt}}

    spec = "{type: json_link, next_url_path: links.next}"
    assert ids(build_rest_source(manifest(crm(api, spec)))) == list(range(10))

    @api.route("/loop")
    def loop(hit):
        page = int(hit.query.get("page", 1))
        return {"data": [{"id": page}], "links": {"next": f"/loop?page={page % 2 + 1}"}}

    source = build_rest_source(manifest(crm(api, spec, path="/loop")))
    err = str(failure(lambda: list(source.resources["items"])))
    assert "pagination loop" in err
    assert "after 3 page(s)" in err
    assert "page 3 (GET http://127.0.0.1" in err
    assert "/loop?page=1)" in err


def test_single_page_and_auto(api, manifest):
    @api.route("/items")
    def items(hit):
        page = int(hit.query.get("page", 1))
        nxt = f"{api.url}/items?page={page + 1}" if page < 2 else None
        return {"results": RECORDS[(page - 1) * 5 : page * 5], "next": nxt}

    assert ids(build_rest_source(manifest(crm(api, "single_page")))) == list(range(5))
    assert ids(build_rest_source(manifest(crm(api, "auto")))) == list(range(10))
    assert rest_stats("crm")["items"] == {
        "requests": 2,
        "pages": 2,
        "retries": 0,
        "records": 10,
        "pauses": 0,
    }


def test_unknown_paginator_lists_the_available_ones(api, manifest):
    with pytest.raises(ConfigError) as err:
        manifest(crm(api, "foo"))
    message = str(err.value)
    assert "crm.yml:" in message
    assert "models.items.endpoint.paginator.type" in message
    assert "Invalid paginator: foo. Available options: auto, cursor, header_link" in message


def test_registered_paginator(api, manifest):
    register_paginator("just_once", lambda spec: SinglePagePaginator(), set())

    @api.route("/items")
    def items(hit):
        return {"data": RECORDS[:3], "next": f"{api.url}/items?x=1"}

    assert ids(build_rest_source(manifest(crm(api, "just_once")))) == [0, 1, 2]
    with pytest.raises(ConfigError, match="key 'limit' is not used by paginator 'just_once'"):
        manifest(crm(api, "{type: just_once, limit: 3}"))


def test_api_ignoring_the_page_parameter_is_a_loop(api, manifest):
    api.route("/items")(lambda hit: {"data": RECORDS[:3]})  # same page whatever is asked
    source = build_rest_source(manifest(crm(api, "page_number")))
    err = str(failure(lambda: list(source.resources["items"])))
    assert "pagination loop: page 2 repeats page 1 byte for byte" in err
    assert "model 'items' page 2" in err
