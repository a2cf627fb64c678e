"""The demo API's Azure Resource Manager side: estate shape and every convention it enforces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from demo import cloud
from demo.api import ARM_CLIENT_ID, ARM_CLIENT_SECRET, DemoApi, serve_demo_api
from demo.arm import QPU_HEADER, READS_HEADER, SCOPE

API = {"api-version": "2023-09-01"}
COST_BODY = {
    "type": "ActualCost",
    "timeframe": "Custom",
    "timePeriod": {"from": "2025-10-03T00:00:00Z", "to": "2025-12-31T23:59:59Z"},
    "dataset": {"granularity": "Daily", "aggregation": {"totalCost": {"name": "PreTaxCost",
                "function": "Sum"}}},
}  # fmt: skip


@pytest.fixture(scope="module")
def arm() -> Iterator[DemoApi]:
    with serve_demo_api(rate_per_second=None, people_n=10) as api:
        yield api


def _token(api: DemoApi, **override: str) -> requests.Response:
    form = {"grant_type": "client_credentials", "client_id": ARM_CLIENT_ID,
            "client_secret": ARM_CLIENT_SECRET, "scope": SCOPE, **override}  # fmt: skip
    return requests.post(api.url(f"/{cloud.TENANT_ID}/oauth2/v2.0/token"), data=form, timeout=5)


def _auth(api: DemoApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(api).json()['access_token']}"}


def _walk(api: DemoApi, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    url: str | None = api.url(path)
    params: dict[str, str] | None = API
    items: list[dict[str, Any]] = []
    while url:
        body = requests.get(url, params=params, headers=headers, timeout=10).json()
        items += body["value"]
        url, params = body.get("nextLink"), None  # nextLink is a full URL, api-version kept
    return items


def test_estate_is_arm_shaped_and_large_enough() -> None:
    vnets, tables = cloud.virtual_networks(), cloud.route_tables()
    nics, vms = cloud.network_interfaces(), cloud.vms()
    assert len(cloud.subscriptions()) == 4
    assert len(vnets) >= 200
    assert len(tables) >= 300
    assert len(nics) >= 1000
    assert len(vms) >= 500
    assert len({c["UsageDate"] for c in cloud.costs()}) == 90
    for resource in (vnets[0], tables[0], nics[0], vms[0]):
        assert {"id", "name", "type", "location", "tags", "properties"} <= set(resource)
    table_ids = {t["id"] for t in tables}
    refs = [s["properties"]["routeTable"]["id"] for v in vnets for s in v["properties"]["subnets"]
            if "routeTable" in s["properties"]]  # fmt: skip
    exact = sum(ref in table_ids for ref in refs)
    lowered = {i.lower() for i in table_ids}
    assert all(ref.lower() in lowered for ref in refs)  # every reference resolves ignoring case
    assert 0 < len(refs) - exact < len(refs) / 2  # and some differ in case from the id
    nic_refs = [
        n["id"] for vm in vms for n in vm["properties"]["networkProfile"]["networkInterfaces"]
    ]
    assert {r.lower() for r in nic_refs} == {n["id"].lower() for n in nics}
    assert any({"CostCenter", "Cost Center"} <= set(vm["tags"]) for vm in vms)


def test_api_version_is_required(arm: DemoApi) -> None:
    headers = _auth(arm)
    missing = requests.get(arm.url("/subscriptions"), headers=headers, timeout=5)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"


def test_token_endpoint_checks_scope_and_secret(arm: DemoApi) -> None:
    ok = _token(arm)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer"
    assert ok.json()["expires_in"] > 0
    assert (
        _token(arm, scope="https://graph.microsoft.com/.default").json()["error"] == "invalid_scope"
    )
    assert _token(arm, client_secret="wrong").status_code == 401
    anonymous = requests.get(arm.url("/subscriptions"), params=API, timeout=5)
    assert anonymous.status_code == 401


def test_lists_page_with_full_next_links_and_ignore_path_case(arm: DemoApi) -> None:
    headers = _auth(arm)
    subs = _walk(arm, "/subscriptions", headers)
    assert [s["subscriptionId"] for s in subs] == [
        s["subscriptionId"] for s in cloud.subscriptions()
    ]
    vnets: list[dict[str, Any]] = []
    for sub in subs:
        path = f"{sub['id']}/providers/Microsoft.Network/virtualNetworks"
        vnets += _walk(arm, path.upper().replace("SUBSCRIPTIONS", "subscriptions"), headers)
    assert sorted(v["id"] for v in vnets) == sorted(v["id"] for v in cloud.virtual_networks())
    first = requests.get(arm.url(f"{subs[0]['id']}/providers/Microsoft.Compute/virtualMachines"),
                         params=API, headers=headers, timeout=5)  # fmt: skip
    assert first.json()["nextLink"].startswith(arm.base_url + "/subscriptions/")
    assert "api-version=2023-09-01" in first.json()["nextLink"]
    assert int(first.headers[READS_HEADER]) < 12_000
    vnet = cloud.virtual_networks()[0]
    assert _walk(arm, f"{vnet['id']}/subnets", headers) == vnet["properties"]["subnets"]


def test_expired_token_mid_walk_is_401_with_arm_code(arm: DemoApi) -> None:
    headers = _auth(arm)
    path = f"{cloud.subscriptions()[1]['id']}/providers/Microsoft.Network/networkInterfaces"
    assert requests.get(arm.url(path), params=API, headers=headers, timeout=5).ok
    arm.add_fault(path, "expire_token")
    expired = requests.get(arm.url(path), params=API, headers=headers, timeout=5)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert requests.get(arm.url(path), params=API, headers=_auth(arm), timeout=5).ok


def test_throttling_headers() -> None:
    with serve_demo_api(rate_per_second=2.0, burst=2, people_n=10) as api:
        headers = _auth(api)
        answers = [requests.get(api.url("/subscriptions"), params=API, headers=headers, timeout=5)
                   for _ in range(5)]  # fmt: skip
        limited = [r for r in answers if r.status_code == 429]
        assert limited
        assert limited[0].headers["Retry-After"] == "1"
        assert limited[0].headers[READS_HEADER] == "0"
        # answered reads report what the rate bucket still holds (2, minus this one, ...)
        assert [r.headers[READS_HEADER] for r in answers if r.ok][:2] == ["1", "0"]


def _cost_url(api: DemoApi, sub: dict[str, Any]) -> str:
    return api.url(f"{sub['id']}/providers/Microsoft.CostManagement/query?api-version=2023-03-01")


def test_cost_query_pages_by_posting_next_link_with_the_same_body(arm: DemoApi) -> None:
    headers, sub = _auth(arm), cloud.subscriptions()[0]
    rows: list[list[Any]] = []
    url: str | None = _cost_url(arm, sub)
    pages = 0
    while url:
        answer = requests.post(url, json=COST_BODY, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        props = answer.json()["properties"]
        assert [c["name"] for c in props["columns"]] == [n for n, _ in cloud.COST_COLUMNS]
        rows += props["rows"]
        url, pages = props["nextLink"], pages + 1
    assert pages > 1
    assert rows == cloud.cost_rows(subscription_id=sub["subscriptionId"])
    second = requests.post(_cost_url(arm, sub), json=COST_BODY, headers=headers, timeout=5)
    next_link = second.json()["properties"]["nextLink"]
    other = {**COST_BODY, "type": "AmortizedCost"}
    refused = requests.post(next_link, json=other, headers=headers, timeout=5)
    assert refused.status_code == 400
    assert "same as" in refused.json()["error"]["message"]
    assert requests.get(_cost_url(arm, sub), headers=headers, timeout=5).status_code == 405


def test_cost_query_throttle_has_only_the_qpu_header(arm: DemoApi) -> None:
    headers, sub = _auth(arm), cloud.subscriptions()[2]
    arm.add_fault("/subscriptions", "qpu", retry_after=1)
    throttled = requests.post(_cost_url(arm, sub), json=COST_BODY, headers=headers, timeout=5)
    assert throttled.status_code == 429
    assert "Retry-After" not in throttled.headers
    assert throttled.headers[QPU_HEADER] == "1"
    early = requests.post(_cost_url(arm, sub), json=COST_BODY, headers=headers, timeout=5)
    assert early.status_code == 429  # coming back before the asked wait is throttled again
    time.sleep(1.05)
    assert requests.post(_cost_url(arm, sub), json=COST_BODY, headers=headers, timeout=5).ok
