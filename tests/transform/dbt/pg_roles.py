"""PostgreSQL roles for tests: unique names per test, dropped (with their grants) after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg2

from tests.conftest import PG_ADMIN


@dataclass(frozen=True)
class Roles:
    """An analyst and a loader role, and a LOGIN user member of the analyst role."""

    analyst: str
    loader: str
    login: str

    def login_url(self, database_url: str) -> str:
        """The test database's URL, connecting as the login user."""
        parts = urlsplit(database_url)
        host = parts.netloc.split("@", 1)[-1]
        return parts._replace(netloc=f"{self.login}:trust@{host}").geturl()


def _run(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def create_login(url: str, roles: Roles) -> None:
    """Create the LOGIN user as a member of the analyst role."""
    _run(url, f'create role "{roles.login}" login password \'x\' in role "{roles.analyst}"')


@contextmanager
def unique_roles(database_url: str) -> Iterator[Roles]:
    """Role names nobody else uses; on exit their privileges and the roles are dropped."""
    suffix = uuid.uuid4().hex[:8]
    roles = Roles(f"t_analyst_{suffix}", f"t_loader_{suffix}", f"t_user_{suffix}")
    try:
        yield roles
    finally:
        names = [roles.login, roles.analyst, roles.loader]
        conn = psycopg2.connect(database_url.replace("postgres@", "postgres:trust@"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select rolname from pg_roles where rolname = any(%s)", (names,))
                existing = [r[0] for r in cur.fetchall()]
                if existing:
                    owned = ", ".join(f'"{n}"' for n in existing)
                    cur.execute(f"drop owned by {owned} cascade")
        finally:
            conn.close()
        _run(PG_ADMIN, *[f'drop role if exists "{n}"' for n in names])
