"""Deterministic demo ERP: a SQLite database (customers, products, orders, invoices).

Timestamps are 'YYYY-MM-DD HH:MM:SS' UTC text in columns declared TIMESTAMP, spread over
2024-01-01..2025-12-31. CLI: ``python -m demo.erp PATH [--orders N]``.
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from demo.people import people

START_TS = calendar.timegm((2024, 1, 1, 0, 0, 0, 0, 0, 0))
END_TS = calendar.timegm((2025, 12, 31, 23, 59, 59, 0, 0, 0))
DAY = 86_400

SCHEMA = """
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    phone TEXT,
    iban TEXT,
    city TEXT,
    country TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_price REAL NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL,
    amount REAL NOT NULL,
    status TEXT NOT NULL,
    ordered_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE invoices (
    invoice_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders(order_id),
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    amount REAL NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX ix_orders_customer ON orders(customer_id);
CREATE INDEX ix_orders_updated ON orders(updated_at);
CREATE INDEX ix_invoices_updated ON invoices(updated_at);
CREATE INDEX ix_customers_updated ON customers(updated_at);
"""

CATEGORIES: dict[str, list[str]] = {
    "Electronics": ["Headphones", "Charger", "Speaker", "Webcam", "Keyboard", "Mouse"],
    "Home": ["Lamp", "Kettle", "Blanket", "Vase", "Clock", "Mug"],
    "Garden": ["Hose", "Shovel", "Planter", "Seeds", "Gloves"],
    "Sports": ["Yoga Mat", "Dumbbell", "Water Bottle", "Backpack", "Racket"],
    "Books": ["Novel", "Cookbook", "Atlas", "Comic", "Dictionary"],
    "Office": ["Notebook", "Pen Set", "Stapler", "Desk Organizer", "Binder"],
}
ADJECTIVES = ["Classic", "Premium", "Eco", "Compact", "Deluxe", "Smart", "Pro", "Mini", "Urban"]
STATUSES = ["delivered", "shipped", "paid", "pending", "cancelled"]
STATUS_WEIGHTS = [60, 15, 10, 8, 7]


@lru_cache(maxsize=4096)
def _day(day_number: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day_number * DAY))


def fmt_ts(epoch: int) -> str:
    """Format UTC epoch seconds as 'YYYY-MM-DD HH:MM:SS'."""
    day_number, rest = divmod(epoch, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_day(day_number)} {hours:02d}:{minutes:02d}:{seconds:02d}"


def _clamp(epoch: int) -> int:
    return min(epoch, END_TS)


def _customer_rows(
    n: int, seed: int, rng: random.Random
) -> tuple[list[tuple[Any, ...]], list[int]]:
    rows: list[tuple[Any, ...]] = []
    created_epochs: list[int] = []
    created_span = calendar.timegm((2025, 6, 30, 0, 0, 0, 0, 0, 0)) - START_TS
    for p in people(n, seed):
        created = START_TS + rng.randrange(created_span)
        updated = _clamp(created + rng.randrange(400 * DAY))
        created_epochs.append(created)
        rows.append(
            (p["person_id"], p["first_name"], p["last_name"], p["email"], p["phone"],
             p["iban"], p["city"], p["country"], fmt_ts(created), fmt_ts(updated))
        )  # fmt: skip
    return rows, created_epochs


def _product_rows(n: int, rng: random.Random) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    categories = list(CATEGORIES)
    for product_id in range(1, n + 1):
        category = categories[(product_id - 1) % len(categories)]
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(CATEGORIES[category])}"
        sku = f"{category[:3].upper()}-{product_id:05d}"
        price = round(rng.uniform(2.0, 500.0), 2)
        updated = fmt_ts(START_TS + rng.randrange(END_TS - START_TS))
        rows.append((product_id, sku, name, category, price, updated))
    return rows


def _order_and_invoice_rows(
    orders: int, created: list[int], prices: list[float], rng: random.Random
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Orders are placed after their customer's created_at; order ids follow ordered_at."""
    rand = rng.random  # int(rand() * n) is much faster than randrange() for 50k+ rows
    n_customers, n_products = len(created), len(prices)
    placed: list[tuple[int, int]] = []
    for _ in range(orders):
        customer_id = 1 + int(rand() * n_customers)
        since = created[customer_id - 1]
        placed.append((since + int(rand() * (END_TS - since)), customer_id))
    placed.sort()
    statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=orders)
    order_rows: list[tuple[Any, ...]] = []
    invoice_rows: list[tuple[Any, ...]] = []
    for idx, ((ordered_ts, customer_id), status) in enumerate(zip(placed, statuses, strict=True)):
        order_id = idx + 1
        product_id = 1 + int(rand() * n_products)
        quantity = min(10, 1 + int(rng.expovariate(0.6)))
        unit_price = prices[product_id - 1]
        amount = round(quantity * unit_price, 2)
        updated_ts = min(ordered_ts + int(rand() * 30 * DAY), END_TS)
        order_rows.append(
            (order_id, customer_id, product_id, quantity, unit_price, amount, status,
             fmt_ts(ordered_ts), fmt_ts(updated_ts))
        )  # fmt: skip
        if status == "cancelled":
            continue
        issued = fmt_ts(min(ordered_ts + int(rand() * 2 * DAY), END_TS))
        paid = None
        if status != "pending":
            paid = fmt_ts(min(ordered_ts + int(rand() * 32 * DAY), END_TS))
            paid = max(paid, issued)
        invoice_rows.append(
            (len(invoice_rows) + 1, order_id, customer_id, amount, issued, paid, paid or issued)
        )
    return order_rows, invoice_rows


def build_erp(
    path: Path,
    customers: int = 2000,
    products: int = 200,
    orders: int = 50_000,
    seed: int = 42,
) -> dict[str, int]:
    """Write the demo ERP SQLite database at ``path`` (replaced if present); return row counts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(seed)
    customer_rows, created = _customer_rows(customers, seed, rng)
    product_rows = _product_rows(products, rng)
    prices = [float(row[4]) for row in product_rows]
    order_rows, invoice_rows = _order_and_invoice_rows(orders, created, prices, rng)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        with conn:
            conn.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?)", customer_rows)
            conn.executemany("INSERT INTO products VALUES (?,?,?,?,?,?)", product_rows)
            conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)", order_rows)
            conn.executemany("INSERT INTO invoices VALUES (?,?,?,?,?,?,?)", invoice_rows)
    finally:
        conn.close()
    return {
        "customers": len(customer_rows),
        "products": len(product_rows),
        "orders": len(order_rows),
        "invoices": len(invoice_rows),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: build the demo ERP and print row counts as JSON."""
    parser = argparse.ArgumentParser(prog="python -m demo.erp", description=__doc__)
    parser.add_argument("path", type=Path, help="SQLite file to (re)create")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    counts = build_erp(args.path, args.customers, args.products, args.orders, args.seed)
    print(json.dumps({"path": str(args.path), "rows": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
