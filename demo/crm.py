"""Deterministic demo CRM data (customers, contacts, deals) behind the demo REST API.

Customers are the shared ``people()`` (same emails as the ERP); ids look like ``C00017``.
``CrmStore`` is thread-safe and mutable (touch_deals / add_customers) for incremental tests.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
import threading
from collections.abc import Iterable
from typing import Any

from demo.people import person

CHANNELS = ["email", "phone", "meeting", "chat", "linkedin"]
NOTES = [
    "Intro call", "Sent brochure", "Asked for a quote", "Follow-up on invoice",
    "Renewal discussion", "Complaint about delivery", "Demo scheduled", "No answer",
]  # fmt: skip
STAGES = ["prospect", "qualified", "proposal", "negotiation", "won", "lost"]
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
SPAN_S = int((END - START).total_seconds())


def customer_id(person_id: int) -> str:
    """CRM id of a person: 17 -> 'C00017'."""
    return f"C{person_id:05d}"


def iso_z(moment: dt.datetime) -> str:
    """Format an aware datetime as 'YYYY-MM-DDTHH:MM:SSZ' (UTC, seconds precision)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_iso(value: str) -> str:
    """Parse an ISO-8601 timestamp (naive = UTC) and return it as 'YYYY-MM-DDTHH:MM:SSZ'."""
    parsed = dt.datetime.fromisoformat(value.strip().replace(" ", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return iso_z(parsed)


def _at(rng: random.Random, low: int = 0) -> tuple[int, str]:
    offset = low + rng.randrange(max(1, SPAN_S - low))
    return offset, iso_z(START + dt.timedelta(seconds=offset))


def encode_cursor(payload: dict[str, Any]) -> str:
    """Opaque cursor: urlsafe base64 of compact JSON."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Inverse of ``encode_cursor``; raises ValueError on garbage."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(payload, dict):
        raise ValueError("invalid cursor")
    return payload


def _customer(person_id: int, seed: int, created: str, updated: str) -> dict[str, Any]:
    p = person(person_id, seed)
    return {
        "id": customer_id(person_id),
        "email": p["email"],
        "phone": p["phone"],
        "first_name": p["first_name"],
        "last_name": p["last_name"],
        "address": {
            "street": p["street"],
            "city": p["city"],
            "zip": p["zip"],
            "country": p["country"],
        },
        "created_at": created,
        "updated_at": updated,
    }


class CrmStore:
    """In-memory CRM: customers (n), contacts (3n), deals (1.5n), guarded by a lock."""

    def __init__(self, n: int = 2000, seed: int = 42) -> None:
        self.seed = seed
        self.lock = threading.Lock()
        rng = random.Random(f"crm-{seed}")
        self.customers: list[dict[str, Any]] = []
        for pid in range(1, n + 1):
            created_s, created = _at(rng)
            _, updated = _at(rng, created_s)
            self.customers.append(_customer(pid, seed, created, updated))
        self.by_id = {c["id"]: c for c in self.customers}
        self.contacts: list[dict[str, Any]] = []
        for contact_id in range(1, 3 * n + 1):
            self.contacts.append(
                {
                    "id": contact_id,
                    "customer_id": customer_id(rng.randint(1, n)),
                    "channel": rng.choice(CHANNELS),
                    "contacted_at": _at(rng)[1],
                    "note": rng.choice(NOTES),
                }
            )
        self.deals: list[dict[str, Any]] = []
        for deal_id in range(1, n * 3 // 2 + 1):
            created_s, created = _at(rng)
            self.deals.append(
                {
                    "id": deal_id,
                    "customer_id": customer_id(rng.randint(1, n)),
                    "amount": round(rng.uniform(500.0, 50_000.0), 2),
                    "currency": "EUR",
                    "stage": rng.choice(STAGES),
                    "created_at": created,
                    "updated_at": _at(rng, created_s)[1],
                }
            )
        self.deals_by_id = {d["id"]: d for d in self.deals}

    # -- reads ------------------------------------------------------------------------------
    def customers_page(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """Page ``page`` (1-based) of customers and the total number of customers."""
        with self.lock:
            start = (page - 1) * per_page
            return [dict(c) for c in self.customers[start : start + per_page]], len(self.customers)

    def contacts_slice(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Contacts ``[offset, offset + limit)`` ordered by id, and the total count."""
        with self.lock:
            return [dict(c) for c in self.contacts[offset : offset + limit]], len(self.contacts)

    def customer_contacts(self, cid: str) -> list[dict[str, Any]] | None:
        """Contacts of one customer (None when the customer is unknown)."""
        with self.lock:
            if cid not in self.by_id:
                return None
            return [dict(c) for c in self.contacts if c["customer_id"] == cid]

    def deals_after(
        self, after: tuple[str, int] | None, updated_since: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Deals sorted by (updated_at, id) strictly after ``after``; returns (page, has_more)."""
        with self.lock:
            rows = sorted(self.deals, key=lambda d: (d["updated_at"], d["id"]))
            selected = [
                dict(d)
                for d in rows
                if (updated_since is None or d["updated_at"] > updated_since)
                and (after is None or (d["updated_at"], d["id"]) > after)
            ]
        return selected[:limit], len(selected) > limit

    # -- mutations --------------------------------------------------------------------------
    def touch_deals(self, ids: Iterable[int], now_iso: str) -> int:
        """Set updated_at of the given deals to ``now_iso``; returns how many were found."""
        stamp = normalize_iso(now_iso)
        touched = 0
        with self.lock:
            for deal_id in ids:
                deal = self.deals_by_id.get(int(deal_id))
                if deal is not None:
                    deal["updated_at"] = stamp
                    touched += 1
        return touched

    def add_customers(self, k: int, now_iso: str = "2026-01-01T00:00:00Z") -> list[str]:
        """Append ``k`` new customers (next people) created/updated at ``now_iso``; their ids."""
        stamp = normalize_iso(now_iso)
        with self.lock:
            first = len(self.customers) + 1
            new = [_customer(pid, self.seed, stamp, stamp) for pid in range(first, first + k)]
            self.customers.extend(new)
            self.by_id.update({c["id"]: c for c in new})
        return [c["id"] for c in new]
