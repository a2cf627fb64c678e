"""Run a command until it exits or its owner process dies: the embedded server never outlives
the kspyder process that started it, even when that process is SIGKILLed.

Run as a script (``python mongo_watchdog.py OWNER_PID COMMAND...``) by extract.mongo_server;
it imports nothing from kspyder, so it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

POLL_S = 0.5
GRACE_S = 10.0


def alive(pid: int) -> bool:
    """True while a process with this id exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(child: subprocess.Popen[bytes]) -> int:
    """SIGTERM (a clean WiredTiger checkpoint), then SIGKILL after the grace period."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
    return child.wait()


def main(argv: list[str]) -> int:
    """Start ``argv[1:]``, forward SIGTERM/SIGINT to it, stop it when ``argv[0]`` dies."""
    owner, command = int(argv[0]), argv[1:]
    child = subprocess.Popen(command)

    def forward(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(stop(child))

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while child.poll() is None:
        if not alive(owner) or os.getppid() != owner:
            return stop(child)
        time.sleep(POLL_S)
    return child.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
