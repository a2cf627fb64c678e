"""The Azure Resource Manager side of the demo API: token endpoint, ARM lists, cost query.

Conventions enforced, as Azure does (docs/cloud.md): every call needs ``api-version`` (400
``MissingApiVersionParameter``); OAuth2 client credentials at ``/{tenant}/oauth2/v2.0/token``
with scope ``https://management.azure.com/.default``; tokens expire or are revoked (401
``ExpiredAuthenticationToken``); lists answer ``{"value": [...], "nextLink": <full URL>}``;
paths are case-insensitive; the Cost Management query is a POST whose ``nextLink`` must be
POSTed again with the same body; its throttling answer carries only the
``x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`` header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from demo import cloud
from demo.faults import TokenBucket
from demo.routes import Query, Reply, _get, _url

SCOPE = "https://management.azure.com/.default"
QPU_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"
READS_HEADER = "x-ms-ratelimit-remaining-subscription-reads"
COST_TYPES = ("ActualCost", "AmortizedCost", "Usage")
_TOKEN = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_LISTS = {
    "virtual_networks": re.compile(
        _SUB + r"/providers/microsoft\.network/virtualnetworks/?$", re.I
    ),
    "route_tables": re.compile(_SUB + r"/providers/microsoft\.network/routetables/?$", re.I),
    "network_interfaces": re.compile(
        _SUB + r"/providers/microsoft\.network/networkinterfaces/?$", re.I
    ),
    "vms": re.compile(_SUB + r"/providers/microsoft\.compute/virtualmachines/?$", re.I),
}
_SUBNETS = re.compile(
    _SUB + r"/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.network/virtualnetworks/"
    r"(?P<vnet>[^/]+)/subnets/?$",
    re.I,
)
_COST = re.compile(_SUB + r"/providers/microsoft\.costmanagement/query/?$", re.I)


def arm_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """ARM's error body: ``{"error": {"code": ..., "message": ...}}``."""
    return Reply(status, {"error": {"code": code, "message": message}}, dict(headers))


def is_arm_path(path: str) -> bool:
    """True for the paths this module answers (ARM resources and the token endpoint)."""
    return path.lower().startswith("/subscriptions") or bool(_TOKEN.match(path))


def token_tenant(path: str) -> str | None:
    """The tenant of a ``/{tenant}/oauth2/v2.0/token`` path, else None."""
    found = _TOKEN.match(path)
    return found.group(1) if found else None


def _token_of(offset: int, digest: str = "") -> str:
    raw = json.dumps({"o": offset, "h": digest}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset_of(token: str) -> tuple[int, str]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(payload["o"]), str(payload["h"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("invalid $skiptoken") from exc


class ArmApi:
    """State of the ARM side: the estate by subscription, issued tokens and throttling."""

    def __init__(self, seed: int, client_id: str, client_secret: str, tenant: str,
                 page_size: int = 50, cost_page_size: int = 250,
                 reads_bucket: TokenBucket | None = None) -> None:  # fmt: skip
        self.client_id, self.client_secret, self.tenant = client_id, client_secret, tenant
        self.page_size, self.cost_page_size = page_size, cost_page_size
        self.token_lifetime_s = 3599
        self.subscriptions = cloud.subscriptions(seed)
        self.known = {s["subscriptionId"].lower() for s in self.subscriptions}
        self.resources: dict[str, list[dict[str, Any]]] = {
            "virtual_networks": cloud.virtual_networks(seed),
            "route_tables": cloud.route_tables(seed),
            "network_interfaces": cloud.network_interfaces(seed),
            "vms": cloud.vms(seed),
        }
        self.costs = cloud.cost_rows(seed)
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._reads = 12_000
        self.reads_bucket = reads_bucket  # the API's rate limiter, when it has one
        self.qpu_blocked_until = 0.0
        self.cost_bodies: list[Any] = []  # every cost query body received, in order

    # -- tokens ------------------------------------------------------------------------------
    def issue_token(self, tenant: str, form_body: bytes) -> Reply:
        """OAuth2 client credentials grant (form-encoded), as Microsoft Entra ID answers it."""
        form = dict(parse_qsl(form_body.decode("utf-8", "replace")))
        if tenant != self.tenant:
            return Reply(400, {"error": "invalid_tenant", "error_description": "unknown tenant"})
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "use "
                               "client_credentials"})  # fmt: skip
        if form.get("scope") != SCOPE:
            return Reply(400, {"error": "invalid_scope", "error_description": f"scope must "
                               f"be {SCOPE}"})  # fmt: skip
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return Reply(401, {"error": "invalid_client", "error_description": "bad client"})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime_s
        body = {"token_type": "Bearer", "expires_in": self.token_lifetime_s,
                "ext_expires_in": self.token_lifetime_s, "access_token": token}  # fmt: skip
        return Reply(200, body)

    def revoke_tokens(self) -> None:
        """Expire every issued token now (as an early expiry or a revocation would)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def authorize(self, header: str) -> Reply | None:
        """None when the bearer token is valid, else ARM's 401."""
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.",
                             **{"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
        if time.monotonic() >= expiry:
            return arm_error(401, "ExpiredAuthenticationToken",
                             "The access token expiry UTC time is earlier than current UTC time.",
                             **{"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
        return None

    def reads_left(self) -> str:
        """What ARM's reads header says: the rate bucket's tokens when the API throttles,
        else a count down from 12,000."""
        if self.reads_bucket is not None:
            return str(self.reads_bucket.remaining())
        with self._lock:
            self._reads = max(self._reads - 1, 0)
            return str(self._reads)

    def throttled(self, path: str, retry_after: float) -> Reply:
        """The 429 of ARM (Retry-After) or of Cost Management (only its qpu header)."""
        if _COST.match(path):
            with self._lock:
                self.qpu_blocked_until = max(self.qpu_blocked_until, time.monotonic() + retry_after)
            return self._qpu_reply()
        return arm_error(429, "SubscriptionRequestsThrottled", "Too many requests.",
                         **{"Retry-After": str(int(retry_after)), READS_HEADER: "0"})  # fmt: skip

    def _qpu_reply(self) -> Reply:
        wait = max(self.qpu_blocked_until - time.monotonic(), 0.0)
        return arm_error(429, "429", "Too many requests. Please retry.",
                         **{QPU_HEADER: str(max(1, round(wait)))})  # fmt: skip

    # -- data --------------------------------------------------------------------------------
    def dispatch(self, method: str, path: str, query: Query, body: bytes, base_url: str) -> Reply:
        """Answer one authorised ARM request."""
        if not _get(query, "api-version"):
            return arm_error(400, "MissingApiVersionParameter", "The api-version query "
                             "parameter (?api-version=) is required for all requests.")  # fmt: skip
        if path.rstrip("/").lower() == "/subscriptions":
            return self._list(path, query, base_url, self.subscriptions)
        cost = _COST.match(path)
        if cost:
            if method != "POST":
                return arm_error(405, "MethodNotAllowed", "Cost Management query is a POST.")
            return self._cost(cost["sub"], path, query, body, base_url)
        for kind, pattern in _LISTS.items():
            found = pattern.match(path)
            if found:
                return self._by_subscription(found["sub"], path, query, base_url, kind)
        subnets = _SUBNETS.match(path)
        if subnets:
            return self._subnets(subnets, path, query, base_url)
        return arm_error(404, "InvalidResourceType", f"no resource type at {path}")

    def _by_subscription(self, sub: str, path: str, query: Query, base_url: str,
                         kind: str) -> Reply:  # fmt: skip
        if sub.lower() not in self.known:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not "
                             "be found.")  # fmt: skip
        items = [r for r in self.resources[kind] if cloud.subscription_of(r["id"]) == sub.lower()]
        return self._list(path, query, base_url, items)

    def _subnets(self, found: re.Match[str], path: str, query: Query, base_url: str) -> Reply:
        prefix = f"/subscriptions/{found['sub']}/resourcegroups/{found['rg']}/".lower()
        for vnet in self.resources["virtual_networks"]:
            if (
                vnet["id"].lower().startswith(prefix)
                and vnet["name"].lower() == found["vnet"].lower()
            ):
                return self._list(path, query, base_url, vnet["properties"]["subnets"])
        return arm_error(404, "ResourceNotFound", f"virtual network '{found['vnet']}' not found")

    def _list(self, path: str, query: Query, base_url: str, items: list[dict[str, Any]]) -> Reply:
        offset, _ = _offset_of(_get(query, "$skiptoken") or _token_of(0))
        page = items[offset : offset + self.page_size]
        body: dict[str, Any] = {"value": page}
        if offset + self.page_size < len(items):
            skip = _token_of(offset + self.page_size)
            body["nextLink"] = _url(base_url, path, query, **{"$skiptoken": skip})
        return Reply(200, body, {READS_HEADER: self.reads_left()})

    def _cost(self, sub: str, path: str, query: Query, raw: bytes, base_url: str) -> Reply:
        if sub.lower() not in self.known:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not "
                             "be found.")  # fmt: skip
        if time.monotonic() < self.qpu_blocked_until:
            return self._qpu_reply()
        try:
            spec = json.loads(raw or b"null")
        except ValueError:
            spec = None
        self.cost_bodies.append(spec)
        problem = _cost_problem(spec)
        if problem:
            return arm_error(400, "BadRequest", problem)
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        offset, expected = _offset_of(_get(query, "$skiptoken") or _token_of(0, digest))
        if expected != digest:
            return arm_error(400, "BadRequest", "The request body must be the same as the one "
                             "of the query that gave this $skiptoken.")  # fmt: skip
        rows = [r for r in self.costs if cloud.subscription_of(r[2]) == sub.lower()]
        rows = _in_period(rows, spec)
        page = rows[offset : offset + self.cost_page_size]
        next_link = None
        if offset + self.cost_page_size < len(rows):
            skip = _token_of(offset + self.cost_page_size, digest)
            next_link = _url(base_url, path, query, **{"$skiptoken": skip})
        query_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sub}:{digest}"))
        body = {
            "id": f"/subscriptions/{sub}/providers/Microsoft.CostManagement/query/{query_id}",
            "name": query_id,
            "type": "Microsoft.CostManagement/query",
            "location": None,
            "sku": None,
            "eTag": None,
            "properties": {
                "nextLink": next_link,
                "columns": [{"name": n, "type": t} for n, t in cloud.COST_COLUMNS],
                "rows": page,
            },
        }
        return Reply(200, body)


def _cost_problem(spec: Any) -> str | None:
    """Why a cost query body is refused, or None."""
    if not isinstance(spec, dict):
        return "The query body must be a JSON object."
    if spec.get("type") not in COST_TYPES:
        return f"'type' must be one of {', '.join(COST_TYPES)}."
    if not isinstance(spec.get("dataset"), dict):
        return "'dataset' is required."
    if spec.get("timeframe") == "Custom":
        period = spec.get("timePeriod")
        if not isinstance(period, dict) or not {"from", "to"} <= set(period):
            return "timeframe 'Custom' needs timePeriod.from and timePeriod.to."
    return None


def _in_period(rows: list[list[Any]], spec: dict[str, Any]) -> list[list[Any]]:
    if spec.get("timeframe") != "Custom":
        return rows
    period = spec["timePeriod"]
    low = int(str(period["from"])[:10].replace("-", ""))
    high = int(str(period["to"])[:10].replace("-", ""))
    return [r for r in rows if low <= r[1] <= high]
