"""Trust boundaries: credentials stay with their origin, passwords stay masked, pseudonyms stay
stable, hostile values stay inert, and Prefect's states tell the truth.

Real servers on loopback (two pytest-httpserver instances on different ports), real
PostgreSQL and DuckDB warehouses, real dbt and Prefect (one harness for the module).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from extract.load import extract_source
from extract.warehouse import resolve
from tests.reliability.helpers import source_from

TOKEN = "trust-bearer-5c1d9e07a4"
KEY = "trust-apikey-8b2f61c3d0"


@pytest.fixture
def foreign() -> Iterator[HTTPServer]:
    """A second loopback server (another port: another origin) that records what it gets."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def _headers_seen(server: HTTPServer) -> list[dict[str, str]]:
    return [dict(request.headers) for request, _ in server.log]


def _rest(base_url: str, auth: str, paginator: str) -> str:
    return (
        f"kind: rest\nclient:\n  base_url: {base_url}\n  auth: {auth}\n"
        f"  retry: {{max_attempts: 1}}\n  paginator: {paginator}\n"
        "models:\n  items: {primary_key: id, endpoint: {path: /items, data_selector: data}}\n"
    )


BEARER = '{type: bearer, token: "${TRUST_TOKEN}"ON_FOREIGN}'
API_KEY = '{type: api_key, name: X-Api-Key, api_key: "${TRUST_KEY}"ON_FOREIGN}'
NEXT = "{type: json_link, next_url_path: next}"


@pytest.mark.parametrize("on_foreign", ["fail", "omit_credentials"])
@pytest.mark.parametrize("how", ["next link", "Link header", "redirect"])
def test_credentials_never_reach_another_origin(
    how: str,
    on_foreign: str,
    httpserver: HTTPServer,
    foreign: HTTPServer,
    manifests_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    monkeypatch.setenv("TRUST_TOKEN", TOKEN)
    monkeypatch.setenv("TRUST_KEY", KEY)
    elsewhere = foreign.url_for("/items?page=2")
    foreign.expect_request("/items").respond_with_json({"data": [{"id": 3}], "next": None})
    first = {"data": [{"id": 1}, {"id": 2}], "next": None}
    if how == "next link":
        first["next"] = elsewhere
        httpserver.expect_request("/items").respond_with_json(first)
        auth, paginator = BEARER, NEXT
    elif how == "Link header":
        headers = {"Link": f'<{elsewhere}>; rel="next"'}
        httpserver.expect_request("/items").respond_with_json(first, headers=headers)
        auth, paginator = BEARER, "header_link"
    else:
        redirect = Response(status=302, headers={"Location": elsewhere})
        httpserver.expect_request("/items").respond_with_response(redirect)
        auth, paginator = API_KEY, "single_page"  # a custom header requests would keep
    extra = "" if on_foreign == "fail" else ", on_foreign_origin: omit_credentials"
    auth = auth.replace("ON_FOREIGN", extra)
    source = source_from(manifests_dir, "api", _rest(httpserver.url_for("/"), auth, paginator))
    (result,) = extract_source(source, resolve())
    seen = _headers_seen(foreign)
    leaked = sum(TOKEN in str(h) or KEY in str(h) for h in seen)
    reliability.record(
        case=f"{how} to another origin (auth.on_foreign_origin: {on_foreign})",
        injected=f"a {how} from 127.0.0.1:{httpserver.port} to 127.0.0.1:{foreign.port}",
        expected="no credentials sent there; fail naming the origin, or follow without them",
        survived=int(leaked == 0),
        secrets_leaked=leaked,
    )
    assert leaked == 0, seen
    if on_foreign == "fail":
        assert result.status == "failed"
        assert f"http://127.0.0.1:{foreign.port}" in str(result.error)
        assert "on_foreign_origin" in str(result.error)
        assert seen == []  # nothing at all was sent to the foreign origin
    else:
        assert (result.status, result.rows) == ("ok", 3 if how != "redirect" else 1)
        assert len(seen) == 1 and "Authorization" not in seen[0] and "X-Api-Key" not in seen[0]
    first_hit = dict(httpserver.log[0][0].headers)
    assert first_hit.get("Authorization") == f"Bearer {TOKEN}" or first_hit.get("X-Api-Key") == KEY
