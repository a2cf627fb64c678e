"""A request budget per source: a token bucket capped by a rolling window.

Guarantee, measured at send time: with ``requests_per_second: R`` (window ``W`` = 1 s) or
``requests_per_minute: R`` (``W`` = 60 s), no window of ``W`` seconds ever holds more than
``max(1, floor(R))`` requests of the source, whatever ``burst`` is; ``burst`` only says how
many of them may leave back to back after a quiet spell. Requests are spaced ``W / R`` apart
in the long run. A thread that wakes up late moves its slot to when it really sends, and a
guard of ``GUARD_SECONDS`` is added to the window to absorb most of the jitter between
sending and arrival, so the server usually measures the same bound (on a busy 2-core machine
the benchmark server still refused a few requests in 1,000; they are retried). Every model,
thread and retry of a source draws from the same budget.

When the server reports what it still allows (``remaining_header``, e.g. ARM's
``x-ms-ratelimit-remaining-subscription-reads``), the transport ``hold``s the whole budget
for ``remaining_pause`` seconds once that count is at ``remaining_floor`` or below, so a
server-side bucket shared with other clients refills before it answers 429.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from extract.manifest.typing import RateLimit

GUARD_SECONDS = 0.025

_lock = threading.Lock()
_budgets: dict[str, tuple[RateLimit, RateBudget]] = {}


class RateBudget:
    """Reserve send slots: ``acquire()`` blocks until this caller may send one request."""

    def __init__(
        self,
        rate: float,
        window: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.window = window
        self.interval = window / rate
        self.limit = max(1, math.floor(rate))
        self.tolerance = (min(burst, self.limit) - 1) * self.interval
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tat = 0.0  # theoretical arrival time of the next request (GCRA)
        self._sent: deque[list[float]] = deque(maxlen=self.limit)  # [send time] per slot
        self._hold_until = 0.0  # no request leaves before this (the server asked for a pause)

    def _reserve(self) -> list[float]:
        with self._lock:
            now = self._clock()
            at = max(now, self._tat - self.tolerance, self._hold_until)
            if len(self._sent) == self.limit:
                at = max(at, self._sent[0][0] + self.window + GUARD_SECONDS)
            self._tat = max(self._tat, at) + self.interval
            slot = [at]
            self._sent.append(slot)
            return slot

    def hold(self, seconds: float) -> bool:
        """Let no request leave for ``seconds`` from now; False while an earlier hold runs.

        Answers to requests sent before a hold say the same low count again: they do not
        extend it. The first answer after a hold that still reports little holds anew.
        """
        with self._lock:
            now = self._clock()
            if now < self._hold_until:
                return False
            self._hold_until = now + seconds
            return True

    def reserve(self) -> float:
        """Book the earliest allowed send time and return it (``clock`` units)."""
        return self._reserve()[0]

    def acquire(self) -> float:
        """Wait for a send slot; return the seconds waited.

        A thread that wakes up late moves its slot to the real time, so that later slots,
        computed from it, keep the window even when this one left late.
        """
        slot = self._reserve()
        wait = slot[0] - self._clock()
        if wait > 0:
            self._sleep(wait)
        with self._lock:
            slot[0] = max(slot[0], self._clock())
        return max(wait, 0.0)


def budget_for(source: str, limit: RateLimit | None) -> RateBudget | None:
    """The process-wide budget of a source (one per source name and rate setting)."""
    if limit is None:
        return None
    with _lock:
        known = _budgets.get(source)
        if known and known[0] == limit:
            return known[1]
        if limit.requests_per_second is not None:
            budget = RateBudget(limit.requests_per_second, 1.0, limit.burst)
        else:
            assert limit.requests_per_minute is not None  # the schema requires one of both
            budget = RateBudget(limit.requests_per_minute, 60.0, limit.burst)
        _budgets[source] = (limit, budget)
        return budget
