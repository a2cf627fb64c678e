"""The embedded MongoDB: a SecantusDB wire server (WiredTiger storage) started by kspyder.

Without ``MONGODB_URI``, extract.mongo asks ``running()`` for the server of a store folder
(``<home>/mongo``): the first call starts ``python -m secantus`` on a free loopback port with
its files in ``<folder>/data``, behind a watchdog that stops it when this process dies (even
by SIGKILL), and records it in ``<folder>/server.json``. A second kspyder process on the same
folder finds that record and reuses the live server; a record whose server or owner is gone
(a killed run) is cleaned up first. The server stops at exit (``atexit``, SIGTERM to its
process group, so WiredTiger checkpoints). Nothing here speaks the wire protocol.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from extract.errors import KspyderError
from extract.mongo_watchdog import alive as _alive

READY_TIMEOUT_S = float(os.environ.get("KSPYDER_MONGO_START_TIMEOUT", "60"))
WATCHDOG = Path(__file__).with_name("mongo_watchdog.py")
# WiredTiger reporting a missing or unreadable table of the store: the files were damaged.
DAMAGE = re.compile(r"WiredTigerError|secantus_\w+\.wt: handle-open: open: No such file")

_servers: dict[Path, EmbeddedServer] = {}
_lock = threading.Lock()


class StoreDamaged(KspyderError):
    """The embedded store's files are missing or corrupted: only a rebuild helps."""

    def __init__(self, store: Path, detail: str, source: str = "<source>") -> None:
        self.store, self.detail = store, detail
        super().__init__(
            f"the embedded MongoDB store {store} is lost or corrupted ({detail}): "
            f"run `kspyder rebuild {source}`"
        )

    def for_source(self, source: str) -> StoreDamaged:
        """The same error, naming the source to rebuild."""
        return StoreDamaged(self.store, self.detail, source)


@dataclass
class EmbeddedServer:
    """One SecantusDB server: its port, process group (None when another process owns it)."""

    folder: Path
    port: int
    pgid: int | None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def stop(self) -> None:
        """Stop the server if this process started it (clean shutdown, then SIGKILL)."""
        if self.pgid is not None:
            _kill_group(self.pgid)
            self.pgid = None
            with contextlib.suppress(FileNotFoundError):
                _record(self.folder).unlink()


def data_dir(folder: Path) -> Path:
    """Where the server keeps its WiredTiger files."""
    return folder / "data"


def running(folder: Path) -> EmbeddedServer:
    """The ready server of ``folder``: this process's, another live one's, or a new one."""
    folder = folder.resolve()
    with _lock:
        if folder not in _servers:
            _servers[folder] = _reuse_or_start(folder)
        return _servers[folder]


def stop_all() -> None:
    """Stop every server this process started (registered with atexit)."""
    with _lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


atexit.register(stop_all)


def start(folder: Path, storage: str | None = None) -> EmbeddedServer:
    """Start a server now and wait until it accepts connections (``storage`` may be
    ``:memory:``); the caller owns it and must ``stop()`` it."""
    port = _free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *(sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port)),
        *("--storage-path", storage or str(data_dir(folder)), "--log-level", "WARNING"),
    ]
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(WATCHDOG), str(os.getpid()), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as one
        )
    server = EmbeddedServer(folder, port, process.pid)
    try:
        _wait_ready(server, process)
    except BaseException:
        server.stop()
        raise
    return server


def _reuse_or_start(folder: Path) -> EmbeddedServer:
    with _folder_lock(folder):
        found = _read_record(folder)
        if found is not None:
            owner, server = found
            if _alive(owner) and _accepts(server.port):
                return EmbeddedServer(folder, server.port, None)  # another process's server
            if server.pgid is not None:
                _kill_group(server.pgid)  # left behind by a killed run
        server = start(folder)
        _record(folder).write_text(
            json.dumps({"owner": os.getpid(), "pgid": server.pgid, "port": server.port})
        )
        return server


def _wait_ready(server: EmbeddedServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _accepts(server.port):
        if process.poll() is not None:
            _raise_for_log(server, f"exited with code {process.returncode}")
            raise KspyderError(
                f"the embedded MongoDB server exited with code {process.returncode}; "
                f"its output is in {server.log}"
            )
        if time.monotonic() > deadline:
            raise KspyderError(
                f"the embedded MongoDB server did not answer within {READY_TIMEOUT_S:.0f}s "
                f"(KSPYDER_MONGO_START_TIMEOUT); its output is in {server.log}"
            )
        time.sleep(0.05)
    _raise_for_log(server, "reported missing or unreadable files")


def _raise_for_log(server: EmbeddedServer, what: str) -> None:
    text = server.log.read_text("utf-8", errors="replace") if server.log.exists() else ""
    if DAMAGE.search(text):
        raise StoreDamaged(data_dir(server.folder), f"the server {what}; see {server.log}")


def reset_store(folder: Path) -> Path | None:
    """Move a damaged store aside (``data.damaged-<time>``) so a new server starts empty."""
    folder = folder.resolve()
    with _lock:
        if folder in _servers:
            _servers.pop(folder).stop()
    data = data_dir(folder)
    if not data.exists():
        return None
    aside = folder / f"data.damaged-{time.strftime('%Y%m%dT%H%M%S')}"
    data.rename(aside)
    return aside


# -- processes, ports, the record file -----------------------------------------------------------
def _record(folder: Path) -> Path:
    return folder / "server.json"


def _read_record(folder: Path) -> tuple[int, EmbeddedServer] | None:
    try:
        data = json.loads(_record(folder).read_text())
        return int(data["owner"]), EmbeddedServer(folder, int(data["port"]), int(data["pgid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One process at a time decides whether to start the folder's server."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "server.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _kill_group(pgid: int, grace_s: float = 15.0) -> None:
    """SIGTERM the process group (watchdog and server), SIGKILL what is left after grace."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)  # reap our own watchdog, if it is our child
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accepts(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
