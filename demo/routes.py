"""Data endpoints of the demo REST API (pure request -> Reply logic, no sockets).

``mode`` is None for a normal answer, or the pagination fault being injected: "empty"
(no records but claims more pages) or "loop" (next pointer = the one just received).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from demo import cloud
from demo.crm import CrmStore, decode_cursor, encode_cursor, normalize_iso

CLOUD_COLLECTIONS = (
    "subscriptions", "virtual_networks", "route_tables", "network_interfaces", "vms", "costs",
)  # fmt: skip
MAX_PAGE_SIZE = 1000
_CHILD_CONTACTS = re.compile(r"^/crm/customers/([^/]+)/contacts/?$")

Query = list[tuple[str, str]]


@dataclass
class Reply:
    """An HTTP answer: JSON-serialisable ``body`` unless content_type says otherwise."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class BadRequest(ValueError):
    """Invalid query parameter -> 400."""


def error(status: int, code: str, detail: str | None = None) -> Reply:
    """JSON error reply ``{"error": code[, "detail": ...]}``."""
    body: dict[str, Any] = {"error": code}
    if detail:
        body["detail"] = detail
    return Reply(status, body)


def _get(query: Query, name: str) -> str | None:
    values = [v for k, v in query if k == name]
    return values[-1] if values else None


def _int(query: Query, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = _get(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc
    if value < low or (high is not None and value > high):
        raise BadRequest(f"{name} must be between {low} and {high if high else 'inf'}")
    return value


def _url(base_url: str, path: str, query: Query, **replace: Any) -> str:
    """Absolute URL of ``path`` keeping every query param, with ``replace`` overriding some."""
    kept = [(k, v) for k, v in query if k not in replace]
    kept += [(k, str(v)) for k, v in replace.items()]
    return f"{base_url}{path}?{urlencode(kept)}" if kept else f"{base_url}{path}"


class Routes:
    """Dispatch GET data requests to the CRM store and the cloud documents."""

    def __init__(self, crm: CrmStore, seed: int = 42) -> None:
        self.crm = crm
        self.cloud: dict[str, list[dict[str, Any]]] = {
            name: getattr(cloud, name)(seed) for name in CLOUD_COLLECTIONS
        }

    def dispatch(self, path: str, query: Query, base_url: str, mode: str | None = None) -> Reply:
        """Answer ``GET path?query``; unknown paths give 404, bad params 400."""
        try:
            if path == "/crm/customers":
                return self.customers(query, mode)
            if path == "/crm/deals":
                return self.deals(query, mode)
            if path == "/crm/contacts":
                return self.contacts(path, query, base_url, mode)
            child = _CHILD_CONTACTS.match(path)
            if child:
                return self.customer_contacts(child.group(1), mode)
            if path.startswith("/cloud/") and path[len("/cloud/") :] in CLOUD_COLLECTIONS:
                return self.cloud_page(path, query, base_url, mode)
        except BadRequest as exc:
            return error(400, "bad_request", str(exc))
        return error(404, "not_found")

    def customers(self, query: Query, mode: str | None) -> Reply:
        """Page-number pagination: {"data": [...], "meta": {page, per_page, total_pages, total}}."""
        page = _int(query, "page", 1, 1)
        per_page = _int(query, "per_page", 100, 1, MAX_PAGE_SIZE)
        if mode == "loop":  # server ignores the page parameter: page 1 again and again
            page = 1
        data, total = self.crm.customers_page(page, per_page)
        total_pages = math.ceil(total / per_page)
        if mode == "empty":
            data, total_pages = [], max(total_pages, page + 1)
        meta = {"page": page, "per_page": per_page, "total_pages": total_pages, "total": total}
        return Reply(200, {"data": data, "meta": meta})

    def deals(self, query: Query, mode: str | None) -> Reply:
        """Cursor pagination sorted by (updated_at, id); updated_since keeps updated_at > value."""
        limit = _int(query, "limit", 100, 1, MAX_PAGE_SIZE)
        received = _get(query, "cursor") or None
        since_raw = _get(query, "updated_since") or None
        after: tuple[str, int] | None = None
        since: str | None = None
        if received is not None:
            try:
                payload = decode_cursor(received)
                if payload.get("u") is not None:
                    after = (str(payload["u"]), int(payload["i"]))
                since = payload.get("s")
            except (ValueError, KeyError, TypeError) as exc:
                raise BadRequest("invalid cursor") from exc
        if since_raw is not None:
            try:
                since = normalize_iso(since_raw)
            except ValueError as exc:
                raise BadRequest("updated_since must be an ISO-8601 timestamp") from exc
        items, has_more = self.crm.deals_after(after, since, limit)

        def cursor_after(item: dict[str, Any]) -> str:
            return encode_cursor({"u": item["updated_at"], "i": item["id"], "s": since})

        next_cursor = cursor_after(items[-1]) if has_more else None
        start_cursor = received or encode_cursor({"u": None, "i": None, "s": since})
        if mode == "empty":
            next_cursor = cursor_after(items[-1]) if items else start_cursor
            items, has_more = [], True
        elif mode == "loop":
            next_cursor, has_more = start_cursor, True
        body = {"results": {"items": items}, "next_cursor": next_cursor, "has_more": has_more}
        return Reply(200, body)

    def contacts(self, path: str, query: Query, base_url: str, mode: str | None) -> Reply:
        """Offset pagination: {"items": [...], "total": M} + ``Link: <...>; rel="next"``."""
        offset = _int(query, "offset", 0, 0)
        limit = _int(query, "limit", 100, 1, MAX_PAGE_SIZE)
        items, total = self.crm.contacts_slice(offset, limit)
        next_url: str | None = None
        if offset + limit < total or mode == "empty":
            next_url = _url(base_url, path, query, offset=offset + limit, limit=limit)
        if mode == "empty":
            items = []
        elif mode == "loop":
            next_url = _url(base_url, path, query)
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
        return Reply(200, {"items": items, "total": total}, headers)

    def customer_contacts(self, cid: str, mode: str | None) -> Reply:
        """Child endpoint: plain JSON list of one customer's contacts (404 if unknown)."""
        found = self.crm.customer_contacts(cid)
        if found is None:
            return error(404, "not_found", f"unknown customer {cid}")
        return Reply(200, [] if mode == "empty" else found)

    def cloud_page(self, path: str, query: Query, base_url: str, mode: str | None) -> Reply:
        """Flat listing of the ARM estate (every subscription at once) with page numbers:
        {"value": [...], "nextLink": absolute URL} (nextLink absent at the end)."""
        records = self.cloud[path[len("/cloud/") :]]
        if path == "/cloud/costs":
            since = _get(query, "from")
            if since:
                try:
                    day = int(dt.date.fromisoformat(since).strftime("%Y%m%d"))
                except ValueError as exc:
                    raise BadRequest("from must be YYYY-MM-DD") from exc
                records = [r for r in records if r["UsageDate"] >= day]
        page = _int(query, "page", 1, 1)
        page_size = _int(query, "page_size", 100, 1, MAX_PAGE_SIZE)
        start = (page - 1) * page_size
        body: dict[str, Any] = {"value": [dict(r) for r in records[start : start + page_size]]}
        if start + page_size < len(records) or mode == "empty":
            body["nextLink"] = _url(base_url, path, query, page=page + 1, page_size=page_size)
        if mode == "empty":
            body["value"] = []
        elif mode == "loop":
            body["nextLink"] = _url(base_url, path, query)
        return Reply(200, body)
