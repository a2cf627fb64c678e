"""Real HTTP tests of the demo REST API, the demo data generators and the demo ERP."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from demo import cloud
from demo.api import DemoApiHandle, serve_demo_api
from demo.erp import build_erp
from demo.people import iban_is_valid, people

TOKEN = "demo-token"


@pytest.fixture(scope="module")
def api() -> Iterator[DemoApiHandle]:
    with serve_demo_api(rate_per_second=None) as handle:
        yield handle


@pytest.fixture
def client(api: DemoApiHandle) -> Iterator[requests.Session]:
    api.clear_faults()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield session
    session.close()
    api.clear_faults()


def get(client: requests.Session, api: DemoApiHandle, path: str, **params: Any) -> Any:
    response = client.get(api.url(path), params=params or None, timeout=10)
    response.raise_for_status()
    return response.json()


# -- auth, basics ---------------------------------------------------------------------------
def test_auth_required_and_token_not_echoed(api: DemoApiHandle) -> None:
    missing = requests.get(api.url("/crm/customers"), timeout=5)
    wrong = requests.get(
        api.url("/crm/customers"), headers={"Authorization": "Bearer s3cr3t-guess"}, timeout=5
    )
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
    assert "s3cr3t-guess" not in wrong.text
    assert requests.get(api.url("/health"), timeout=5).json() == {"status": "ok"}


def test_unknown_path_and_bad_params(client: requests.Session, api: DemoApiHandle) -> None:
    assert client.get(api.url("/crm/nope"), timeout=5).status_code == 404
    bad = client.get(api.url("/crm/customers"), params={"page": "x"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad_request"
    assert client.get(api.url("/crm/deals"), params={"cursor": "!!"}, timeout=5).status_code == 400


# -- pagination styles ----------------------------------------------------------------------
def test_page_number_pagination(client: requests.Session, api: DemoApiHandle) -> None:
    first = get(client, api, "/crm/customers", page=1, per_page=300)
    meta = first["meta"]
    assert meta == {"page": 1, "per_page": 300, "total_pages": 7, "total": 2000}
    ids = []
    for page in range(1, meta["total_pages"] + 1):
        body = get(client, api, "/crm/customers", page=page, per_page=300)
        ids += [c["id"] for c in body["data"]]
    assert len(ids) == len(set(ids)) == 2000
    assert get(client, api, "/crm/customers", page=8, per_page=300)["data"] == []
    customer = first["data"][0]
    assert customer["id"] == "C00001"
    assert customer["email"] == people(1)[0]["email"]
    assert set(customer["address"]) == {"street", "city", "zip", "country"}


def test_cursor_pagination_walks_all_deals_once(
    client: requests.Session, api: DemoApiHandle
) -> None:
    seen: list[tuple[str, int]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 250}
        if cursor:
            params["cursor"] = cursor
        body = get(client, api, "/crm/deals", **params)
        seen += [(d["updated_at"], d["id"]) for d in body["results"]["items"]]
        cursor = body["next_cursor"]
        assert body["has_more"] == (cursor is not None)
        if not body["has_more"]:
            break
    assert len(seen) == len({i for _, i in seen}) == 3000
    assert seen == sorted(seen)


def test_incremental_deals_and_new_customers() -> None:
    with serve_demo_api(rate_per_second=None, people_n=100) as api:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        since = "2025-12-31T23:59:59Z"
        body = get(session, api, "/crm/deals", updated_since=since)
        assert body["results"]["items"] == []
        assert body["next_cursor"] is None
        assert api.touch_deals([3, 5, 99_999], "2026-02-01T10:00:00+00:00") == 2
        body = get(session, api, "/crm/deals", updated_since=since, limit=1)
        assert [d["id"] for d in body["results"]["items"]] == [3]
        assert body["has_more"]
        body = get(session, api, "/crm/deals", cursor=body["next_cursor"])
        assert [d["id"] for d in body["results"]["items"]] == [5]
        assert not body["has_more"]
        assert body["results"]["items"][0]["updated_at"] == "2026-02-01T10:00:00Z"
        assert api.add_customers(2) == ["C00101", "C00102"]
        assert get(session, api, "/crm/customers", per_page=1000)["meta"]["total"] == 102


def test_offset_pagination_with_link_header(client: requests.Session, api: DemoApiHandle) -> None:
    url: str | None = api.url("/crm/contacts?limit=1000")
    ids: list[int] = []
    while url:
        response = client.get(url, timeout=10)
        body = response.json()
        assert body["total"] == 6000
        ids += [c["id"] for c in body["items"]]
        url = response.links.get("next", {}).get("url")
    assert ids == list(range(1, 6001))
    last = client.get(api.url("/crm/contacts"), params={"offset": 5900}, timeout=5)
    assert "Link" not in last.headers
    assert len(last.json()["items"]) == 100


def test_child_endpoint(client: requests.Session, api: DemoApiHandle) -> None:
    contacts = get(client, api, "/crm/customers/C00017/contacts")
    assert isinstance(contacts, list)
    assert contacts
    assert {c["customer_id"] for c in contacts} == {"C00017"}
    unknown = client.get(api.url("/crm/customers/C99999/contacts"), timeout=5)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"


def test_cloud_next_link_pagination(client: requests.Session, api: DemoApiHandle) -> None:
    url: str | None = api.url("/cloud/vms?page_size=250")
    names: list[str] = []
    while url:
        body = get(client, api, url.removeprefix(api.base_url).split("?")[0], **_qs(url))
        names += [vm["name"] for vm in body["value"]]
        url = body.get("nextLink")
    assert len(names) == len(set(names)) == 600
    costs = get(client, api, "/cloud/costs", **{"from": "2025-12-30", "page_size": 50})
    assert "from=2025-12-30" in costs["nextLink"]
    assert "page=2" in costs["nextLink"]
    assert {c["UsageDate"] for c in costs["value"]} == {20251230, 20251231}
    assert len(get(client, api, "/cloud/subscriptions")["value"]) == 4


def _qs(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


# -- rate limit -----------------------------------------------------------------------------
def test_rate_limit_429_with_retry_after() -> None:
    with serve_demo_api(rate_per_second=2.0, burst=3, people_n=20) as api:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        codes = [
            requests.get(api.url("/crm/customers"), headers=headers, timeout=5) for _ in range(6)
        ]
        limited = [r for r in codes if r.status_code == 429]
        assert limited
        assert codes[0].status_code == 200
        assert limited[0].headers["Retry-After"] == "1"
        assert limited[0].json()["error"] == "rate_limited"
        assert len(api.stats()) == 6


# -- faults ---------------------------------------------------------------------------------
def test_fault_status_and_fifo(client: requests.Session, api: DemoApiHandle) -> None:
    api.add_fault("/crm/customers", "status", times=2, status=503, retry_after="2")
    api.add_fault("/crm", "status", status=500)
    first = client.get(api.url("/crm/customers"), timeout=5)
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "2"
    assert client.get(api.url("/crm/customers"), timeout=5).status_code == 503
    other = client.get(api.url("/crm/deals"), timeout=5)
    assert other.status_code == 500
    assert "Retry-After" not in other.headers
    assert client.get(api.url("/crm/customers"), timeout=5).status_code == 200


def test_faults_over_http(client: requests.Session, api: DemoApiHandle) -> None:
    created = requests.post(
        api.url("/_faults"), json={"path": "/cloud", "kind": "status", "status": 429}, timeout=5
    )
    assert created.status_code == 201
    assert requests.post(api.url("/_faults"), json={"kind": "bogus"}, timeout=5).status_code == 400
    assert requests.delete(api.url("/_faults"), timeout=5).status_code == 200
    assert client.get(api.url("/cloud/vms"), timeout=5).status_code == 200
    requests.post(api.url("/_faults"), json={"path": "/cloud", "kind": "html"}, timeout=5)
    html = client.get(api.url("/cloud/vms"), timeout=5)
    assert html.headers["Content-Type"].startswith("text/html")
    stats = requests.get(api.url("/_stats"), timeout=5).json()
    assert stats[-1]["path"] == "/cloud/vms"
    assert stats[-1]["method"] == "GET"


def test_fault_html_truncated_reset(client: requests.Session, api: DemoApiHandle) -> None:
    api.add_fault("/crm/deals", "html")
    html = client.get(api.url("/crm/deals"), timeout=5)
    assert html.status_code == 200
    assert "<html>" in html.text
    api.add_fault("/crm/deals", "truncated")
    truncated = client.get(api.url("/crm/deals"), timeout=5)
    assert truncated.status_code == 200
    assert truncated.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.text)
    api.add_fault("/crm/deals", "reset")
    with pytest.raises(requests.exceptions.RequestException):
        client.get(api.url("/crm/deals"), timeout=5).json()
    assert client.get(api.url("/crm/deals"), timeout=5).json()["has_more"] is True


def test_fault_slow_triggers_read_timeout(client: requests.Session, api: DemoApiHandle) -> None:
    api.add_fault("/cloud/subscriptions", "slow", delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.get(api.url("/cloud/subscriptions"), timeout=0.2)
    assert client.get(api.url("/cloud/subscriptions"), timeout=5).status_code == 200


def test_fault_empty_claims_more(client: requests.Session, api: DemoApiHandle) -> None:
    for prefix in ("/crm", "/cloud/vms"):
        api.add_fault(prefix, "empty", times=3)
    customers = get(client, api, "/crm/customers", page=20, per_page=100)
    assert customers["data"] == []
    assert customers["meta"]["total_pages"] > 20
    deals = get(client, api, "/crm/deals")
    assert deals["results"]["items"] == []
    assert deals["has_more"]
    assert deals["next_cursor"]
    contacts = client.get(api.url("/crm/contacts"), params={"offset": 5950}, timeout=5)
    assert contacts.json()["items"] == []
    assert "offset=6050" in contacts.links["next"]["url"]
    vms = get(client, api, "/cloud/vms", page=6)
    assert vms["value"] == []
    assert "page=7" in vms["nextLink"]


def test_fault_loop_repeats_pointer(client: requests.Session, api: DemoApiHandle) -> None:
    first = get(client, api, "/crm/deals", limit=5)
    api.add_fault("/crm/deals", "loop")
    looped = get(client, api, "/crm/deals", limit=5, cursor=first["next_cursor"])
    assert looped["next_cursor"] == first["next_cursor"]
    assert looped["has_more"]
    api.add_fault("/cloud/vms", "loop")
    url = api.url("/cloud/vms?page=2&page_size=10")
    assert client.get(url, timeout=5).json()["nextLink"] == url
    api.add_fault("/crm/contacts", "loop")
    url = api.url("/crm/contacts?offset=10&limit=10")
    assert client.get(url, timeout=5).links["next"]["url"] == url
    api.add_fault("/crm/customers", "loop")
    assert get(client, api, "/crm/customers", page=3)["meta"]["page"] == 1


def test_fault_huge(client: requests.Session, api: DemoApiHandle) -> None:
    api.add_fault("/cloud/costs", "huge", mb=2)
    response = client.get(api.url("/cloud/costs"), timeout=10)
    assert len(response.content) > 2 * 1024 * 1024
    assert len(response.json()["value"]) == 100
    api.add_fault("/crm/customers/C00001/contacts", "huge", mb=1)
    assert isinstance(get(client, api, "/crm/customers/C00001/contacts"), list)


def test_stats_and_reset(api: DemoApiHandle, client: requests.Session) -> None:
    api.reset_stats()
    before = time.monotonic()
    client.get(api.url("/crm/customers?page=2"), timeout=5)
    requests.get(api.url("/_stats"), timeout=5)
    [(stamp, method, target)] = api.stats()
    assert method == "GET"
    assert target == "/crm/customers?page=2"
    assert stamp >= before


def test_latency() -> None:
    with serve_demo_api(rate_per_second=None, latency_s=0.3, people_n=10) as api:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(api.url("/crm/customers"), headers={"Authorization": "Bearer demo-token"},
                         timeout=0.1)  # fmt: skip


# -- determinism, generators, ERP -----------------------------------------------------------
def test_determinism(client: requests.Session, api: DemoApiHandle) -> None:
    assert people(50) == people(50) == people(60)[:50]
    assert people(5, seed=1) != people(5)
    assert cloud.vms() == cloud.vms()
    assert cloud.costs() == cloud.costs()
    assert cloud.virtual_networks() == cloud.virtual_networks()
    with serve_demo_api(rate_per_second=None) as other:
        for path, key in (("/crm/customers", "data"), ("/crm/contacts", "items")):
            assert get(client, api, path)[key] == get(client, other, path)[key]
        assert get(client, api, "/cloud/costs") == json.loads(
            json.dumps(get(client, other, "/cloud/costs")).replace(other.base_url, api.base_url)
        )


def test_people_and_cloud_shapes() -> None:
    population = people()
    for key in ("email", "phone", "iban"):
        assert len({p[key] for p in population}) == 2000
    assert all(p["email"] == p["email"].lower() for p in population)
    assert all(iban_is_valid(p["iban"]) and p["iban"].startswith("FR") for p in population)
    costs = cloud.costs()
    assert len(costs) == 90 * 40
    assert len({c["id"] for c in costs}) == len(costs)


def test_build_erp(tmp_path: Path) -> None:
    db = tmp_path / "erp.db"
    db.write_text("garbage")
    counts = build_erp(db, customers=100, products=20, orders=2000)
    assert counts["customers"] == 100
    assert counts["products"] == 20
    assert counts["orders"] == 2000
    with sqlite3.connect(db) as conn:
        cancelled = conn.execute("SELECT count(*) FROM orders WHERE status='cancelled'").fetchone()
        assert counts["invoices"] == 2000 - cancelled[0]
        for table, count in counts.items():
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count
        low, high = conn.execute("SELECT min(ordered_at), max(updated_at) FROM orders").fetchone()
        assert low >= "2024-01-01 00:00:00"
        assert high <= "2025-12-31 23:59:59"
        email = conn.execute("SELECT email FROM customers WHERE customer_id=17").fetchone()[0]
    conn.close()
    assert email == people(17)[16]["email"]
    again = tmp_path / "erp2.db"
    build_erp(again, customers=100, products=20, orders=2000)
    assert db.read_bytes() == again.read_bytes()
