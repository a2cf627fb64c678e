"""One run per source at a time: an OS file lock per source under ``.kspyder/locks/``.

A second run on the same source waits up to ``$KSPYDER_LOCK_WAIT`` seconds (default 600),
then fails with a clear error; dlt's local state is never touched by two runs at once.
The lock is released by the OS if the process dies (even on SIGKILL).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from extract import project
from extract.errors import KspyderError

LOCK_WAIT_ENV = "KSPYDER_LOCK_WAIT"


class SourceBusy(KspyderError):
    """Another run holds the source's lock."""


@contextmanager
def source_lock(source: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the exclusive lock of ``source`` for the duration of the block."""
    wait = float(os.environ.get(LOCK_WAIT_ENV, "600")) if wait_s is None else wait_s
    folder = project.home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise SourceBusy(
                        f"source '{source}' is being loaded by {holder}; waited {wait:.0f}s "
                        f"(set {LOCK_WAIT_ENV} to wait longer)"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
