"""A paged JSON API run as its own process, so its clock and threads are the server's alone.

``python paged_server.py PAGES`` prints its port, then answers ``GET /<any>?page=N`` with
``{"data": [{"path", "page"}], "total_pages": PAGES}`` and ``GET /_hits`` with the arrival
time (``time.monotonic``) of every request so far.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HITS: list[list[Any]] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages = 1

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        at = time.monotonic()
        parts = urlsplit(self.path)
        if parts.path == "/_hits":
            with LOCK:
                body = json.dumps(HITS).encode()
        else:
            page = int(dict(parse_qsl(parts.query)).get("page", 1))
            with LOCK:
                HITS.append([parts.path, page, at])
            data = {"data": [{"path": parts.path, "page": page}], "total_pages": self.pages}
            body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    Handler.pages = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)
