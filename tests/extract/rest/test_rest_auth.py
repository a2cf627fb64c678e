"""Each auth type; a sentinel secret never shows in errors or logs."""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl

import pytest
from rest_helpers import Reply, failure

from extract.rest import build_rest_source

SENTINEL = f"sentinel-{secrets.token_hex(8)}"


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch, caplog):
    monkeypatch.setenv("API_SECRET", SENTINEL)
    monkeypatch.setenv("API_USER", "robot")
    caplog.set_level(logging.DEBUG)


def crm(api: Any, auth: str, paginator: str = "single_page") -> str:
    return f"""
kind: rest
client:
  base_url: {api.url}
  auth: {auth}
  paginator: {paginator}
  retry: {{max_attempts: 2, backoff_factor: 0}}
models:
  items: {{endpoint: {{path: /items}}}}
"""


def guarded(api: Any, check: Any) -> None:
    """/items answers 200 when ``check(hit)`` holds, else 401 echoing what it got."""

    @api.route("/items")
    def items(hit):
        if check(hit):
            return [{"id": 1}]
        return Reply({"error": "denied", "got": hit.headers, "query": hit.query}, 401)


def assert_clean(err: BaseException, caplog: Any) -> None:
    assert SENTINEL not in str(err)
    assert SENTINEL not in repr(err.args)
    assert SENTINEL not in caplog.text


def test_bearer(api, manifest, caplog):
    guarded(api, lambda hit: hit.headers.get("Authorization") == f"Bearer {SENTINEL}")
    source = manifest(crm(api, "{type: bearer, token: '${API_SECRET}'}"))
    assert list(build_rest_source(source).resources["items"]) == [{"id": 1}]
    guarded(api, lambda hit: False)
    err = failure(lambda: list(build_rest_source(source).resources["items"]))
    assert "HTTP 401 Unauthorized" in str(err)
    assert "model 'items' page 1" in str(err)
    assert_clean(err, caplog)


@pytest.mark.parametrize("location", ["header", "query"])
def test_api_key(api, manifest, caplog, location):
    def ok(hit):
        got = hit.headers.get("X-Api-Key") if location == "header" else hit.query.get("api_key")
        return got == SENTINEL

    guarded(api, ok)
    name = "X-Api-Key" if location == "header" else "api_key"
    auth = f"{{type: api_key, name: {name}, location: {location}, api_key: '${{API_SECRET}}'}}"
    source = manifest(crm(api, auth))
    assert list(build_rest_source(source).resources["items"]) == [{"id": 1}]

    @api.route("/items")
    def broken(hit):  # a 500 whose body echoes the request, key included
        return Reply({"echo": hit.query, "headers": hit.headers}, 500)

    err = failure(lambda: list(build_rest_source(source).resources["items"]))
    assert "HTTP 500" in str(err)
    assert "after 2 attempts" in str(err)
    assert "http://127.0.0.1" in str(err)
    assert_clean(err, caplog)


def test_basic(api, manifest, caplog):
    expected = "Basic " + base64.b64encode(f"robot:{SENTINEL}".encode()).decode()
    guarded(api, lambda hit: hit.headers.get("Authorization") == expected)
    auth = "{type: basic, username: '${API_USER}', password: '${API_SECRET}'}"
    source = manifest(crm(api, auth))
    assert list(build_rest_source(source).resources["items"]) == [{"id": 1}]
    guarded(api, lambda hit: False)
    assert_clean(failure(lambda: list(build_rest_source(source).resources["items"])), caplog)


def oauth_server(api: Any, expires_in: int) -> list[dict[str, str]]:
    issued: list[dict[str, str]] = []

    @api.route("/oauth/token", method="POST")
    def token(hit):
        form = dict(parse_qsl(hit.body)) if isinstance(hit.body, str) else {}
        if form.get("client_secret") != SENTINEL or form.get("grant_type") != "client_credentials":
            return Reply({"error": "invalid_client", "echo": form}, 401)
        issued.append(form)
        return {"access_token": f"tok-{len(issued)}", "expires_in": expires_in}

    @api.route("/items")
    def items(hit):
        page = int(hit.query["page"])
        if not hit.headers.get("Authorization", "").startswith("Bearer tok-"):
            return Reply({"error": "no token"}, 401)
        delay = 1.0 if page == 2 else 0.0
        return Reply({"data": [{"page": page, "auth": hit.headers["Authorization"]}]}, delay=delay)

    return issued


def oauth_manifest(api: Any) -> str:
    auth = (
        f"{{type: oauth2_client_credentials, token_url: '{api.url}/oauth/token', "
        "client_id: kspyder, client_secret: '${API_SECRET}', scope: read}"
    )
    return crm(api, auth, "{type: page_number, max_pages: 3}")


def test_oauth2_token_is_cached(api, manifest):
    issued = oauth_server(api, expires_in=3600)
    api.routes[("GET", "/items")] = lambda hit: {
        "data": [{"a": hit.headers["Authorization"], "page": hit.query["page"]}]
    }
    pages = list(build_rest_source(manifest(oauth_manifest(api))).resources["items"])
    assert [p["a"] for p in pages] == ["Bearer tok-1"] * 3
    assert len(issued) == 1
    assert issued[0]["scope"] == "read"


def test_oauth2_token_is_refreshed_before_expiry(api, manifest):
    issued = oauth_server(api, expires_in=1)  # refreshed 0.1 s before it runs out
    pages = list(build_rest_source(manifest(oauth_manifest(api))).resources["items"])
    assert [p["auth"] for p in pages] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert len(issued) == 2


def test_oauth2_token_failure_is_clean(api, manifest, caplog, monkeypatch):
    oauth_server(api, expires_in=60)
    monkeypatch.setenv("API_SECRET", f"{SENTINEL}-wrong")
    err = failure(lambda: list(build_rest_source(manifest(oauth_manifest(api))).resources["items"]))
    assert "OAuth2 token request to http://127.0.0.1" in str(err)
    assert "HTTP 401" in str(err)
    assert_clean(err, caplog)


def test_connection_error_is_clean(manifest, caplog):
    auth = "{type: api_key, name: token, location: query, api_key: '${API_SECRET}'}"
    text = crm(type("Dead", (), {"url": "http://127.0.0.1:9"})(), auth)
    err = failure(lambda: list(build_rest_source(manifest(text)).resources["items"]))
    assert "ConnectionError after 2 attempt(s)" in str(err)
    assert_clean(err, caplog)
