"""The temporary Prefect API server of a one-shot ``kspyder run``, started early.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server the first time a flow
runs, and the run waits for it (a few seconds with an existing local database, ~12 s when
it must create one). ``kspyder run`` and ``kspyder demo`` start that same server (Prefect's
own uvicorn command and settings) as their very first step instead, so it boots while
the CLI imports dlt, dbt and Prefect and starts the demo sources. The flow then talks to
it through ``PREFECT_API_URL``; the server stops when the command ends.

Nothing here imports Prefect: the point is to start before Prefect is imported.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from extract import project
from extract.errors import KspyderError

# Services a one-shot run never uses (scheduling, late runs, automations...);
# `kspyder serve` keeps them all, it needs the scheduler.
ONE_SHOT_SERVICES_OFF = {
    f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
    for name in (
        "SCHEDULER",
        "LATE_RUNS",
        "FOREMAN",
        "CANCELLATION_CLEANUP",
        "PAUSE_EXPIRATIONS",
        "REPOSSESSOR",
        "TRIGGERS",
    )
}


class TemporaryServer:
    """One ``uvicorn prefect.server.api.server:create_app`` process on a free port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait_healthy(self, timeout_s: float) -> None:
        """Block until ``/api/health`` answers 200; raise a clear error otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KspyderError(
                    f"the temporary Prefect API server exited with code "
                    f"{self.process.returncode}; its output is in {self.log}"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise KspyderError(
            f"the temporary Prefect API server did not answer within {timeout_s:.0f}s "
            f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); its output is in {self.log}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _api_configured() -> bool:
    """A Prefect server is configured (env, or settings already loaded by Prefect)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect.settings" in sys.modules:  # e.g. prefect_test_harness in tests
        from prefect.settings import PREFECT_API_URL

        return bool(PREFECT_API_URL.value())
    return False


def start() -> TemporaryServer | None:
    """Start the temporary server now (no wait); None when a Prefect API is configured."""
    project.export_env()
    if _api_configured():
        return None
    port = _free_port()
    home = Path(os.environ["PREFECT_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    log = home / "temporary-server.log"
    env = {
        **os.environ,
        **ONE_SHOT_SERVICES_OFF,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory"),
                "prefect.server.api.server:create_app",
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--log-level", "error", "--lifespan", "on"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = TemporaryServer(process, port, log)
    atexit.register(server.stop)
    return server


class _NoDeadLink(logging.Filter):
    """Drop Prefect's "View at <url>" line: this server has no UI and stops with the run."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.prefix = f"View at {base_url}"

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _drain_prefect_workers() -> None:
    """Send the run's queued logs and events before the server goes away."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(RuntimeError):  # not started: nothing to send
        APILogWorker.instance().drain()
    EventsWorker.drain_all(timeout=10)


@contextlib.contextmanager
def api_for_run(server: TemporaryServer | None) -> Iterator[None]:
    """Point Prefect at ``server`` (once healthy) for the enclosed flow run, then stop it."""
    if server is None:
        yield
        return
    link_filter = _NoDeadLink(server.api_url.removesuffix("/api"))
    flow_logger = logging.getLogger("prefect.flow_runs")
    try:
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
        server.wait_healthy(timeout)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        flow_logger.addFilter(link_filter)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield
            finally:
                _drain_prefect_workers()
    finally:
        flow_logger.removeFilter(link_filter)
        server.stop()
