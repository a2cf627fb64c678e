"""Declarative REST features an Azure estate needs, each against a loopback server.

columns/rows answers (``records_from``), throttling headers beyond ``Retry-After``, a 401
mid-walk (token refreshed once), id normalisation at load, whole documents exempt from the
column-name collision check, ``preview`` of a child model failing cleanly, and the
``x-ms-ratelimit-remaining-*`` count pacing the source before the server refuses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from rest_helpers import Reply, failure

from demo.faults import TokenBucket
from extract import mongo
from extract.documents import load_documents
from extract.errors import ExtractError
from extract.preview import preview_records
from extract.rest import build_rest_source, rest_stats

QPU = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"
BODY = {"type": "ActualCost", "dataset": {"granularity": "Daily"}}
COLUMNS = [{"name": "PreTaxCost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
           {"name": "ResourceId", "type": "String"}]  # fmt: skip
ROWS = [[1.5, 20251001, "/a"], [2.25, 20251001, "/b"], [3.0, 20251002, "/a"]]


def cost_manifest(api: Any, retry: str = "{max_attempts: 3, backoff_factor: 0}") -> str:
    return f"""
kind: rest
client:
  base_url: {api.url}
  retry: {retry}
models:
  costs:
    endpoint:
      path: /query
      method: POST
      json: {{type: ActualCost, dataset: {{granularity: Daily}}}}
      records_from: {{columns: properties.columns, rows: properties.rows}}
      paginator: {{type: json_link, next_url_path: properties.nextLink}}
"""


def cost_server(api: Any) -> None:
    """Two pages; the second only for a POST of the same body (as Cost Management wants)."""

    @api.route("/query", method="POST")
    def query(hit):
        if hit.body != BODY:
            return Reply({"error": {"code": "BadRequest", "message": "body differs"}}, 400)
        second = hit.query.get("$skiptoken") == "2"
        rows = ROWS[2:] if second else ROWS[:2]
        link = None if second else f"{api.url}/query?$skiptoken=2"
        return {"properties": {"nextLink": link, "columns": COLUMNS, "rows": rows}}


def test_records_from_columns_and_rows_with_post_body_replay(api, manifest):
    cost_server(api)
    records = list(build_rest_source(manifest(cost_manifest(api))).resources["costs"])
    assert records == [
        {"PreTaxCost": 1.5, "UsageDate": 20251001, "ResourceId": "/a"},
        {"PreTaxCost": 2.25, "UsageDate": 20251001, "ResourceId": "/b"},
        {"PreTaxCost": 3.0, "UsageDate": 20251002, "ResourceId": "/a"},
    ]
    assert [h.body for h in api.calls("/query")] == [BODY, BODY]


def test_records_from_refuses_a_row_of_the_wrong_width(api, manifest):
    api.routes[("POST", "/query")] = lambda hit: {
        "properties": {"columns": COLUMNS, "rows": [[1.0, 20251001]]}
    }
    err = failure(lambda: list(build_rest_source(manifest(cost_manifest(api))).resources["costs"]))
    assert "row 0 has 2 values for 3 columns (PreTaxCost, UsageDate, ResourceId)" in str(err)


def qpu_server(api: Any, wait: float) -> None:
    """429 with only the Cost Management qpu header until ``wait`` seconds have passed."""
    first: list[float] = []

    @api.route("/query", method="POST")
    def query(hit):
        first.append(first[0] if first else hit.at)
        if hit.at - first[0] < wait:
            return Reply({"error": {"code": "429"}}, 429, {QPU: str(int(wait))})
        return {"properties": {"nextLink": None, "columns": COLUMNS, "rows": ROWS}}


def test_declared_retry_after_header_is_honoured(api, manifest):
    qpu_server(api, wait=1.0)
    retry = f"{{max_attempts: 3, backoff_factor: 0, retry_after_headers: [Retry-After, {QPU}]}}"
    records = list(build_rest_source(manifest(cost_manifest(api, retry))).resources["costs"])
    assert len(records) == 3
    hits = api.calls("/query")
    assert len(hits) == 2
    assert hits[1].at - hits[0].at >= 1.0


def test_undeclared_throttling_header_comes_back_too_early(api, manifest):
    qpu_server(api, wait=1.0)
    err = failure(lambda: list(build_rest_source(manifest(cost_manifest(api))).resources["costs"]))
    assert "HTTP 429" in str(err)
    assert len(api.calls("/query")) == 3


def oauth_walk(api: Any, revoke_after: int, always: bool = False) -> list[dict[str, str]]:
    """Token endpoint, and /items pages whose token is revoked after ``revoke_after`` pages."""
    issued: list[dict[str, str]] = []

    @api.route("/token", method="POST")
    def token(hit):
        issued.append(dict(parse_qsl(hit.body)))
        return {"access_token": f"tok-{len(issued)}", "expires_in": 3600}

    @api.route("/items")
    def items(hit):
        page = int(hit.query.get("page", 1))
        if always or (page > revoke_after and hit.headers["Authorization"] == "Bearer tok-1"):
            code = {"code": "ExpiredAuthenticationToken", "message": "secret-ish details"}
            return Reply({"error": code}, 401)
        return {"data": [{"page": page}], "total_pages": 4}

    return issued


def oauth_manifest(api: Any) -> str:
    return f"""
kind: rest
client:
  base_url: {api.url}
  auth: {{type: oauth2_client_credentials, token_url: '{api.url}/token', client_id: me,
          client_secret: '${{API_SECRET}}', scope: 'https://management.azure.com/.default'}}
  paginator: {{type: page_number, total_pages_path: total_pages}}
  retry: {{max_attempts: 2, backoff_factor: 0}}
models:
  items: {{endpoint: {{path: /items}}}}
"""


def test_401_mid_walk_refreshes_the_token_once(api, manifest, monkeypatch):
    monkeypatch.setenv("API_SECRET", "s3cret")
    issued = oauth_walk(api, revoke_after=2)
    pages = list(build_rest_source(manifest(oauth_manifest(api))).resources["items"])
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    assert len(issued) == 2
    assert [h.headers["Authorization"] for h in api.calls("/items")] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"
    ]  # fmt: skip


def test_401_again_after_refresh_quotes_the_error_code_only(api, manifest, monkeypatch):
    monkeypatch.setenv("API_SECRET", "s3cret")
    issued = oauth_walk(api, revoke_after=0, always=True)
    err = failure(lambda: list(build_rest_source(manifest(oauth_manifest(api))).resources["items"]))
    assert "HTTP 401" in str(err)
    assert "(ExpiredAuthenticationToken)" in str(err)
    assert "even after refreshing the token" in str(err)
    assert "secret-ish" not in str(err)
    assert len(issued) == 2


def documents_manifest(api: Any) -> str:
    return f"""
kind: rest
target: documents
client: {{base_url: {api.url}, paginator: single_page}}
defaults:
  write_disposition: merge
  primary_key: [id]
  normalize_ids: {{case: lower, keys: [id]}}
models:
  vms: {{endpoint: {{path: /vms, data_selector: value}}}}
  nics: {{endpoint: {{path: /nics, data_selector: value}}}}
"""


def test_normalize_ids_at_load_makes_mixed_case_joins_exact(api, manifest):
    group = "/subscriptions/S1/resourceGroups/rg-A/providers"
    nic = f"{group}/Microsoft.Network/networkInterfaces/n1"
    api.routes[("GET", "/vms")] = lambda hit: {"value": [
        {"id": f"{group}/Microsoft.Compute/virtualMachines/v1",
         "tags": {"CostCenter": "CC-1", "Cost Center": "CC-2"},
         "properties": {"networkProfile": {"networkInterfaces": [
             {"id": nic.replace("resourceGroups/rg-A", "resourcegroups/RG-A")}]}}}]}  # fmt: skip
    api.routes[("GET", "/nics")] = lambda hit: {"value": [{"id": nic, "name": "n1"}]}
    source = manifest(documents_manifest(api), name="cloud")
    results = load_documents(source)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    [vm] = mongo.find("cloud", "vms")
    assert vm["tags"] == {"CostCenter": "CC-1", "Cost Center": "CC-2"}  # stored whole
    joined = mongo.aggregate("cloud", "vms", [
        {"$unwind": "$properties.networkProfile.networkInterfaces"},
        {"$lookup": {"from": "nics", "localField": "properties.networkProfile.networkInterfaces.id",
                     "foreignField": "id", "as": "nic"}},
    ])  # fmt: skip
    assert [[n["name"] for n in row["nic"]] for row in joined] == [["n1"]]
    assert vm["_id"] == vm["id"] == vm["id"].lower()


def test_colliding_tag_names_are_still_refused_for_warehouse_targets(api, manifest):
    api.routes[("GET", "/vms")] = lambda hit: {"value": [{"id": "a", "tags": {
        "CostCenter": "1", "Cost Center": "2"}}]}  # fmt: skip
    text = documents_manifest(api).replace("target: documents", "target: warehouse")
    text = text.replace("  normalize_ids: {case: lower, keys: [id]}\n", "")
    err = failure(lambda: list(build_rest_source(manifest(text)).resources["vms"]))
    assert "both become column" in str(err)


def test_preview_of_a_child_model_fails_with_the_clean_error(api, manifest):
    api.routes[("GET", "/parents")] = lambda hit: Reply({"error": "down"}, 503)
    text = f"""
kind: rest
client: {{base_url: {api.url}, paginator: single_page, retry: {{max_attempts: 1}}}}
models:
  parents: {{endpoint: {{path: /parents}}}}
  children: {{endpoint: {{path: "/parents/{{parents.id}}/children"}}}}
"""
    with pytest.raises(ExtractError) as info:
        list(preview_records(manifest(text), "children", 5))
    assert type(info.value) is ExtractError
    assert "HTTP 503" in str(info.value)
    assert "parents" in str(info.value)


READS = "x-ms-ratelimit-remaining-subscription-reads"


def reads_server(api: Any, pages: int = 16, refill: float = 5.0) -> None:
    """ARM's per-subscription token bucket (5 reads, ``refill`` a second), reported on every
    answer in ``x-ms-ratelimit-remaining-subscription-reads``; 429 when it is empty."""
    bucket = TokenBucket(rate=refill, burst=5)

    @api.route("/items")
    def items(hit):
        if not bucket.try_acquire():
            return Reply({"error": {"code": "SubscriptionRequestsThrottled"}}, 429,
                         {"Retry-After": "1", READS: "0"})  # fmt: skip
        page = int(hit.query.get("page", 1))
        body = {"data": [{"page": page}], "total_pages": pages}
        return Reply(body, headers={READS: str(bucket.remaining())})


def reads_manifest(api: Any, remaining: str = "", rate: int = 50) -> str:
    return f"""
kind: rest
client:
  base_url: {api.url}
  rate_limit: {{requests_per_second: {rate}{remaining}}}
  paginator: {{type: page_number, total_pages_path: total_pages}}
  retry: {{max_attempts: 6, backoff_factor: 0}}
models:
  items: {{endpoint: {{path: /items}}}}
"""


def test_remaining_reads_header_paces_the_source_before_the_server_refuses(api, manifest):
    reads_server(api)
    source = build_rest_source(manifest(reads_manifest(api, f", remaining_header: {READS}")))
    assert len(list(source.resources["items"])) == 16
    assert len(api.calls("/items")) == 16  # not one 429: each request answered the first time
    assert rest_stats(source.name)["items"]["pauses"] >= 1
    assert rest_stats(source.name)["items"]["retries"] == 0


def test_without_the_remaining_header_the_same_walk_meets_429s(api, manifest):
    reads_server(api)
    source = build_rest_source(manifest(reads_manifest(api)))
    assert len(list(source.resources["items"])) == 16
    assert rest_stats(source.name)["items"]["retries"] >= 1
    assert len(api.calls("/items")) > 16


def test_a_floor_above_the_servers_whole_allowance_does_not_pause_every_request(api, manifest):
    """A bucket of 5 refilled faster than the client asks never runs low: no pause, although
    the declared floor (10) is above anything this server can report."""
    reads_server(api, refill=100.0)
    remaining = f", remaining_header: {READS}, remaining_floor: 10"
    source = build_rest_source(manifest(reads_manifest(api, remaining, rate=10)))
    assert len(list(source.resources["items"])) == 16
    assert rest_stats(source.name)["items"]["pauses"] == 0
