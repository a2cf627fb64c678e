"""Fault injection queue, token-bucket rate limiter and request log of the demo REST API."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "status", "html", "truncated", "reset", "slow", "empty", "loop", "huge",
    "expire_token", "qpu",
)  # fmt: skip
_ALLOWED_OPTS = {
    "status": {"status", "retry_after"},
    "slow": {"delay"},
    "huge": {"mb"},
    "qpu": {"retry_after"},
}


@dataclass
class Fault:
    """One injected fault: applies to the next ``times`` requests whose path starts with prefix."""

    path_prefix: str
    kind: str
    times: int = 1
    opts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (as accepted by ``POST /_faults``)."""
        return {"path": self.path_prefix, "kind": self.kind, "times": self.times, **self.opts}


def make_fault(path_prefix: str, kind: str, times: int = 1, **opts: Any) -> Fault:
    """Validate and build a Fault; raises ValueError on unknown kind/options."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
    if not isinstance(path_prefix, str) or not path_prefix.startswith("/"):
        raise ValueError("fault path must be a string starting with '/'")
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ValueError("fault times must be a positive integer")
    unknown = set(opts) - _ALLOWED_OPTS.get(kind, set())
    if unknown:
        raise ValueError(f"unexpected options for fault {kind!r}: {sorted(unknown)}")
    if kind == "status":
        status = opts.setdefault("status", 503)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("status fault needs an HTTP status code")
        retry_after = opts.get("retry_after")
        if retry_after is not None:
            opts["retry_after"] = str(retry_after)
    if kind == "slow":
        opts["delay"] = float(opts.get("delay", 5.0))
    if kind == "huge":
        opts["mb"] = float(opts.get("mb", 5.0))
    if kind == "qpu":
        opts["retry_after"] = float(opts.get("retry_after", 2.0))
    return Fault(path_prefix, kind, times, opts)


class FaultQueue:
    """FIFO of faults; ``take(path)`` consumes one use of the first fault matching the path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Append a fault at the end of the queue."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop all pending faults."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        """Pending faults (with their remaining ``times``)."""
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def take(self, path: str) -> Fault | None:
        """Consume one use of the oldest fault whose prefix matches ``path``."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[index]
                    return Fault(fault.path_prefix, fault.kind, 1, dict(fault.opts))
        return None


class TokenBucket:
    """Classic token bucket: ``rate`` tokens/s refill, at most ``burst`` stored."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        """Add the tokens earned since the last call (caller holds the lock)."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> bool:
        """Take one token if available (never blocks)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def remaining(self) -> int:
        """Whole tokens left now (what a ``x-ms-ratelimit-remaining-*`` header reports)."""
        with self._lock:
            self._refill()
            return int(self._tokens)


class RequestLog:
    """Thread-safe list of (monotonic timestamp, method, path+query)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[float, str, str]] = []

    def record(self, method: str, target: str) -> None:
        """Append one request."""
        with self._lock:
            self._entries.append((time.monotonic(), method, target))

    def entries(self) -> list[tuple[float, str, str]]:
        """Snapshot of all recorded requests, oldest first."""
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        """Forget all recorded requests."""
        with self._lock:
            self._entries.clear()
