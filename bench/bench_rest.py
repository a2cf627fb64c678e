"""Benchmark: a rate-limited, slow REST API loaded by kspyder and by stock dlt ``rest_api``.

A server in its own process (ThreadingHTTPServer on 127.0.0.1, free port) serves ``--pages``
pages of 100 records, each answer delayed by ``--latency`` seconds, and refuses more than
``--rate`` requests in any rolling second (429 with ``Retry-After: 1``). No client can beat
``pages / rate`` seconds: that is the bound. kspyder runs with ``rate_limit`` set to the same
rate, the page_number paginator with the total, and ``concurrency``; stock dlt runs with its
defaults (sequential pages, its own retries). Both load into a DuckDB file.

    .venv/bin/python bench/bench_rest.py             # 1,000 pages: bound 50 s
    .venv/bin/python bench/bench_rest.py --pages 60  # quick mode
    .venv/bin/python bench/bench_rest.py --json
    .venv/bin/python bench/bench_rest.py --repeats 1   # one run each

Each contender runs ``--repeats`` times (default 3), alternately; the median run is reported.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAGE_SIZE = 100
TARGET = 1.15


def _page(page: int, pages: int) -> bytes:
    start = (page - 1) * PAGE_SIZE
    data = [
        {
            "id": start + i,
            "name": f"customer {start + i}",
            "email": f"c{start + i}@example.com",
            "amount": round((start + i) * 1.37, 2),
            "updated_at": f"2024-01-01T00:{(start + i) // 60 % 60:02d}:{(start + i) % 60:02d}Z",
        }
        for i in range(PAGE_SIZE)
    ]
    body = {"data": data, "page": page, "total_pages": pages, "total": pages * PAGE_SIZE}
    return json.dumps(body).encode()


def serve(port_out: Any, pages: int, latency: float, rate: int) -> None:
    """Run the API until killed (child process)."""
    lock = threading.Lock()
    accepted: deque[float] = deque()
    counters = {"ok": 0, "rejected": 0, "max_per_second": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            if parts.path == "/stats":
                self._send(200, json.dumps(counters).encode())
                return
            now = time.monotonic()
            with lock:
                while accepted and now - accepted[0] >= 1.0:
                    accepted.popleft()
                allowed = len(accepted) < rate
                if allowed:
                    accepted.append(now)
                    counters["ok"] += 1
                    counters["max_per_second"] = max(counters["max_per_second"], len(accepted))
                else:
                    counters["rejected"] += 1
            if not allowed:
                self._send(429, b'{"error": "rate limit"}', {"Retry-After": "1"})
                return
            page = int(dict(parse_qsl(parts.query)).get("page", 1))
            time.sleep(latency)
            self._send(200, _page(page, pages) if 1 <= page <= pages else b'{"data": []}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    port_out.put(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


def server_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats") as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


def run_kspyder(
    url: str, work: Path, rate: int, concurrency: int, file_format: str
) -> dict[str, Any]:
    import dlt

    from extract.manifest.loader import parse_source
    from extract.rest import build_rest_source, rest_stats

    manifest = work / "bench.yml"
    manifest.write_text(
        f"""
kind: rest
client:
  base_url: {url}
  rate_limit: {{requests_per_second: {rate}, burst: {rate}}}
models:
  records:
    endpoint:
      path: /records
      data_selector: data
      concurrency: {concurrency}
      paginator: {{type: page_number, base_page: 1, total_pages_path: total_pages}}
"""
    )
    pipe = dlt.pipeline(
        pipeline_name="bench_kspyder",
        pipelines_dir=str(work / "pipelines"),
        destination=dlt.destinations.duckdb(str(work / "kspyder.duckdb")),
        dataset_name="bench",
    )
    steps = _run(pipe, build_rest_source(parse_source(manifest)), file_format)
    return {"steps": steps, "rows": _count(pipe), "counters": rest_stats("bench")["records"]}


def run_stock_dlt(url: str, work: Path, file_format: str) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {"base_url": url},
            "resources": [
                {
                    "name": "records",
                    "endpoint": {
                        "path": "records",
                        "data_selector": "data",
                        "paginator": {
                            "type": "page_number",
                            "base_page": 1,
                            "total_path": "total_pages",
                        },
                    },
                }
            ],
        },
        name="bench",
    )
    pipe = dlt.pipeline(
        pipeline_name="bench_dlt",
        pipelines_dir=str(work / "pipelines"),
        destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")),
        dataset_name="bench",
    )
    return {"steps": _run(pipe, source, file_format), "rows": _count(pipe)}


def _run(pipe: Any, source: Any, file_format: str) -> dict[str, float]:
    """``pipeline.run`` step by step, timing each step (wall seconds)."""
    marks = [time.perf_counter()]
    pipe.extract(source, loader_file_format=file_format)
    marks.append(time.perf_counter())
    pipe.normalize()
    marks.append(time.perf_counter())
    pipe.load()
    marks.append(time.perf_counter())
    steps = ("extract", "normalize", "load")
    return {step: round(marks[i + 1] - marks[i], 2) for i, step in enumerate(steps)}


def _count(pipe: Any) -> int:
    with pipe.sql_client() as client:
        return int(client.execute_sql("select count(*) from records")[0][0])


def _with_server(args: argparse.Namespace, run: Any) -> dict[str, Any]:
    ports: Any = multiprocessing.Queue()
    process = multiprocessing.Process(
        target=serve, args=(ports, args.pages, args.latency, args.rate), daemon=True
    )
    process.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        outcome: dict[str, Any] = run(url)
        outcome["seconds"] = round(sum(outcome["steps"].values()), 2)
        outcome["server"] = server_stats(url)
        return outcome
    finally:
        process.terminate()
        process.join()


def _runner(name: str, work: Path, args: argparse.Namespace) -> Any:
    """The contender's run against a server URL, working in ``work``."""
    if name == "kspyder":
        return lambda url: run_kspyder(url, work, args.rate, args.concurrency, args.file_format)
    return lambda url: run_stock_dlt(url, work, args.file_format)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20, help="requests per second allowed")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--file-format", default="jsonl", help="dlt loader_file_format for both runs"
    )
    parser.add_argument("--skip-dlt", action="store_true", help="run kspyder only")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternately")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    bound = args.pages / args.rate
    result: dict[str, Any] = {
        "pages": args.pages,
        "records": args.pages * PAGE_SIZE,
        "rate": args.rate,
        "latency": args.latency,
        "bound_seconds": bound,
        "concurrency": args.concurrency,
        "loader_file_format": args.file_format,
    }
    names = ["kspyder"] + ([] if args.skip_dlt else ["dlt_rest_api"])
    outcomes: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for i in range(args.repeats):  # alternately, a fresh folder and server each run
        for name in names:
            with tempfile.TemporaryDirectory(prefix="bench_rest_") as tmp:
                outcome = _with_server(args, _runner(name, Path(tmp), args))
            outcome["ratio_to_bound"] = round(outcome["seconds"] / bound, 3)
            outcome["extract_ratio_to_bound"] = round(outcome["steps"]["extract"] / bound, 3)
            outcomes[name].append(outcome)
            print(f"  [{i + 1}/{args.repeats}] {name}: {outcome['seconds']:.2f}s", file=sys.stderr)
    for name, done in outcomes.items():
        ordered = sorted(done, key=lambda o: o["seconds"])
        result[name] = {**ordered[len(ordered) // 2], "runs": [o["seconds"] for o in done]}
    runs = outcomes
    kspyder = result["kspyder"]
    result["target_met"] = {
        "extract": kspyder["extract_ratio_to_bound"] <= TARGET,
        "full_run": kspyder["ratio_to_bound"] <= TARGET,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{args.pages} pages x {PAGE_SIZE} records, {args.latency * 1000:.0f} ms latency, "
            f"{args.rate} req/s allowed -> bound {bound:.1f} s; loader_file_format "
            f"{args.file_format}, kspyder concurrency {args.concurrency}"
        )
        for name in runs:
            r = result[name]
            steps = "  ".join(f"{k} {v:.2f}" for k, v in r["steps"].items())
            print(
                f"{name:>13}: {r['seconds']:7.2f} s  ratio {r['ratio_to_bound']:.3f} "
                f"(extract ratio {r['extract_ratio_to_bound']:.3f}; {steps})  rows {r['rows']}  "
                f"429s {r['server']['rejected']}  max/s {r['server']['max_per_second']}"
            )
        for scope, met in result["target_met"].items():
            print(f"target kspyder {scope} <= {TARGET}x bound: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
