"""A fake REST API on loopback (ThreadingHTTPServer) and helpers shared by the REST tests."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import dlt
import pytest


@dataclass
class Hit:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Reply:
    """What a route answers: JSON ``body`` or ``raw`` bytes, a status and headers."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


Handler = Callable[[Hit], Any]


class FakeApi:
    """Routes are functions of the ``Hit``; every request is recorded with its arrival time."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.routes: dict[tuple[str, str], Handler] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                at = time.monotonic()
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode()
                hit = Hit(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    dict(self.headers.items()),
                    body,
                    at,
                )
                with api.lock:
                    api.hits.append(hit)
                handler = api.routes.get((self.command, parts.path))
                reply = handler(hit) if handler else Reply({"error": "no route"}, 404)
                if not isinstance(reply, Reply):
                    reply = Reply(reply)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def route(self, path: str, method: str = "GET") -> Callable[[Handler], Handler]:
        """Decorator: answer ``method path`` with the function."""

        def register(handler: Handler) -> Handler:
            self.routes[(method, path)] = handler
            return handler

        return register

    def calls(self, path: str | None = None) -> list[Hit]:
        """Recorded requests, optionally of one path."""
        with self.lock:
            return [h for h in self.hits if path is None or h.path == path]


def rows(pipe: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    """Run a query on the pipeline's dataset."""
    with pipe.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql)]


def failure(run: Callable[[], Any]) -> BaseException:
    """The first ``ExtractError`` in the chain of what ``run`` raises (dlt wraps it)."""
    from extract.errors import ExtractError

    with pytest.raises(Exception) as info:  # noqa: PT011 (dlt wraps it; unwrapped below)
        run()
    exc: BaseException | None = info.value
    while exc is not None:
        if isinstance(exc, ExtractError):
            return exc
        exc = exc.__cause__ or exc.__context__
    raise AssertionError(f"no ExtractError in {info.value!r}")
