"""Local demo REST API (CRM + cloud inventory) with auth, rate limiting and fault injection.

Standard library only (ThreadingHTTPServer, loopback). In tests use ``serve_demo_api()``;
from a shell: ``python -m demo.api --port 8765`` (prints the base URL).
"""

from __future__ import annotations

import argparse
import hmac
import json
import socket
import struct
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from demo import cloud
from demo.arm import ArmApi, is_arm_path, token_tenant
from demo.crm import CrmStore
from demo.faults import Fault, FaultQueue, RequestLog, TokenBucket, make_fault
from demo.routes import Reply, Routes, error

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p></body></html>"
)
ARM_CLIENT_ID = "kspyder-demo-client"
ARM_CLIENT_SECRET = "demo-client-secret"  # noqa: S105 (the demo's own, documented)


class DemoApi:
    """The demo API server and its test handle (``DemoApiHandle`` is an alias)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "demo-token",
        rate_per_second: float | None = 50.0,
        burst: int = 50,
        latency_s: float = 0.0,
        people_n: int = 2000,
        seed: int = 42,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the demo API only binds to loopback, not {host!r}")
        self.token = token
        self.latency_s = latency_s
        self.crm = CrmStore(people_n, seed)
        self.routes = Routes(self.crm, seed)
        self.bucket = TokenBucket(rate_per_second, burst) if rate_per_second else None
        self.arm = ArmApi(seed, ARM_CLIENT_ID, ARM_CLIENT_SECRET, cloud.TENANT_ID,
                          reads_bucket=self.bucket)  # fmt: skip
        self.faults = FaultQueue()
        self.log = RequestLog()
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        cast(Any, self.server).demo_api = self
        bound_host, bound_port = self.server.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> DemoApi:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.server.serve_forever, name="demo-api", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> DemoApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test handle -------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return f"{self.base_url}{path}"

    def stats(self) -> list[tuple[float, str, str]]:
        """Every request received (except ``/_*``): (monotonic time, method, path+query)."""
        return self.log.entries()

    def reset_stats(self) -> None:
        """Forget the request log."""
        self.log.reset()

    def add_fault(self, path_prefix: str, kind: str, times: int = 1, **opts: Any) -> None:
        """Inject ``kind`` into the next ``times`` requests whose path starts with the prefix."""
        self.faults.add(make_fault(path_prefix, kind, times, **opts))

    def clear_faults(self) -> None:
        """Remove all pending faults."""
        self.faults.clear()

    def touch_deals(self, ids: Iterable[int], now_iso: str) -> int:
        """Bump updated_at of the given deal ids to ``now_iso``; returns how many exist."""
        return self.crm.touch_deals(ids, now_iso)

    def add_customers(self, k: int, now_iso: str = "2026-01-01T00:00:00Z") -> list[str]:
        """Append ``k`` new CRM customers (created/updated at ``now_iso``); returns their ids."""
        return self.crm.add_customers(k, now_iso)


DemoApiHandle = DemoApi


# ``with serve_demo_api(rate_per_second=None) as api:`` runs it on a free loopback port for
# the block (DemoApi is its own context manager)
serve_demo_api = DemoApi


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kspyder-demo-api/1.0"
    quiet = True

    @property
    def api(self) -> DemoApi:
        return cast(DemoApi, cast(Any, self.server).demo_api)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)

    # -- verbs -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        try:
            body = b"" if (method == "POST" and path == "/_faults") else self._read_body()
            if path.startswith("/_"):
                self._send(self._control(method, path))
                return
            self.api.log.record(method, self.path)
            if path == "/health":
                self._send(Reply(200, {"status": "ok"}))
                return
            query = parse_qsl(parts.query, keep_blank_values=True)
            if is_arm_path(path):
                self._arm(method, path, query, body)
                return
            self._data(method, path, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        """Read the request body (keep-alive connections stay in sync); huge ones are dropped."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > 10 * 1024 * 1024:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _arm(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> None:
        """Azure Resource Manager paths: token endpoint, throttling, expiry, then the data."""
        api, arm = self.api, self.api.arm
        tenant = token_tenant(path)
        if tenant is not None:
            self._send(arm.issue_token(tenant, body) if method == "POST" else
                       error(405, "method_not_allowed"))  # fmt: skip
            return
        fault = api.faults.take(path)
        if fault is not None and fault.kind == "expire_token":
            arm.revoke_tokens()
        if api.bucket is not None and not api.bucket.try_acquire():
            self._send(arm.throttled(path, 1.0))
            return
        denied = arm.authorize(self.headers.get("Authorization", ""))
        if denied is not None:
            self._send(denied)
            return
        if fault is not None and fault.kind == "qpu":
            self._send(arm.throttled(path, float(fault.opts["retry_after"])))
            return
        if fault is not None and fault.kind in ("status", "html", "slow"):
            if self._simple_fault(fault):
                return
        if api.latency_s > 0:
            time.sleep(api.latency_s)
        self._send(arm.dispatch(method, path, query, body, api.base_url))

    def _data(self, method: str, path: str, query: list[tuple[str, str]]) -> None:
        api = self.api
        if api.bucket is not None and not api.bucket.try_acquire():
            reply = error(429, "rate_limited", "too many requests")
            reply.headers["Retry-After"] = "1"
            self._send(reply)
            return
        auth = self.headers.get("Authorization", "")
        expected = f"Bearer {api.token}"
        if not hmac.compare_digest(auth.encode(), expected.encode()):
            reply = error(401, "unauthorized")
            reply.headers["WWW-Authenticate"] = 'Bearer realm="demo"'
            self._send(reply)
            return
        if method != "GET":
            self._send(error(405, "method_not_allowed"))
            return
        fault = api.faults.take(path)
        if api.latency_s > 0:
            time.sleep(api.latency_s)
        if fault is not None and fault.kind in ("status", "html", "slow"):
            if self._simple_fault(fault):
                return
        mode = fault.kind if fault is not None and fault.kind in ("empty", "loop") else None
        reply = api.routes.dispatch(path, query, api.base_url, mode)
        if fault is not None and fault.kind == "huge":
            self._send(reply, pad_mb=float(fault.opts["mb"]))
        elif fault is not None and fault.kind == "truncated":
            self._send(reply, cut=True)
        elif fault is not None and fault.kind == "reset":
            self._send(reply, reset=True)
        else:
            self._send(reply)

    def _simple_fault(self, fault: Fault) -> bool:
        """Apply status/html/slow faults; True when the answer was already sent."""
        if fault.kind == "status":
            reply = error(int(fault.opts["status"]), "injected_fault")
            if fault.opts.get("retry_after") is not None:
                reply.headers["Retry-After"] = str(fault.opts["retry_after"])
            self._send(reply)
            return True
        if fault.kind == "html":
            self._send(Reply(200, HTML_ERROR_PAGE, content_type="text/html; charset=utf-8"))
            return True
        time.sleep(float(fault.opts["delay"]))  # "slow": then answer normally
        return False

    def _control(self, method: str, path: str) -> Reply:
        api = self.api
        if path == "/_stats" and method == "GET":
            entries = api.log.entries()
            return Reply(200, [{"t": t, "method": m, "path": p} for t, m, p in entries])
        if path == "/_stats" and method == "DELETE":
            api.reset_stats()
            return Reply(200, {"ok": True})
        if path == "/_faults" and method == "GET":
            return Reply(200, api.faults.pending())
        if path == "/_faults" and method == "DELETE":
            api.clear_faults()
            return Reply(200, {"ok": True})
        if path == "/_faults" and method == "POST":
            try:
                length = int(self.headers.get("Content-Length") or 0)
                spec = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("expected a JSON object")
                opts = {k: v for k, v in spec.items() if k not in ("path", "kind", "times")}
                api.add_fault(str(spec.get("path", "")), str(spec.get("kind", "")),
                              spec.get("times", 1), **opts)  # fmt: skip
            except (ValueError, TypeError) as exc:
                return error(400, "bad_request", str(exc))
            return Reply(201, {"ok": True, "pending": api.faults.pending()})
        return error(404, "not_found")

    # -- output ------------------------------------------------------------------------------
    def _send(
        self, reply: Reply, *, pad_mb: float = 0.0, cut: bool = False, reset: bool = False
    ) -> None:
        body = self._encode(reply, pad_mb)
        payload = body[: len(body) // 2] if (cut or reset) else body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body) if reset else len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        if reset:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

    @staticmethod
    def _encode(reply: Reply, pad_mb: float) -> bytes:
        if isinstance(reply.body, bytes):
            return reply.body
        if isinstance(reply.body, str):
            return reply.body.encode("utf-8")
        body = reply.body
        padding = int(pad_mb * 1024 * 1024)
        if padding and isinstance(body, dict):
            body = {**body, "_padding": "x" * padding}
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if padding and not isinstance(body, dict):
            raw = raw[:-1] + b" " * padding + raw[-1:]  # whitespace padding keeps JSON valid
        return raw


def main(argv: list[str] | None = None) -> int:
    """CLI: run the demo API in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m demo.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s; <= 0 disables")
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per data request")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    _Handler.quiet = not args.verbose
    rate = args.rate if args.rate > 0 else None
    api = DemoApi(args.host, args.port, args.token, rate, args.burst, args.latency,
                  args.people, args.seed)  # fmt: skip
    print(api.base_url, flush=True)
    try:
        api.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
