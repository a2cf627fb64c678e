"""HTTP for one source: pooled sessions, the shared rate budget, declared retries, counters.

Retries are declared in the manifest (``client.retry``) and run by tenacity: exponential
backoff with jitter on the listed statuses, on timeouts and on dropped connections.
``Retry-After`` (seconds or an HTTP date) is honoured; a zero or past value falls back to the
backoff, and no wait is ever shorter than ``MIN_DELAY`` nor longer than ``max_delay``. Every
attempt draws from the rate budget and is counted; a declared ``remaining_header`` at or
below its floor pauses the budget (``throttle.RateBudget.hold``).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, stop_after_attempt

from extract.manifest.typing import Client, Retry
from extract.rest import stats
from extract.rest.context import PageRef
from extract.rest.origins import GuardedSession, OriginBoundAuth
from extract.rest.reauth import error_code, refresh_token
from extract.rest.throttle import RateBudget

log = logging.getLogger(__name__)

MIN_DELAY = 0.25
RETRY_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
USER_AGENT = "kspyder (dlt rest client)"
AUTH_STATUSES = frozenset({401, 403, 407})
RetryOn = Callable[[requests.Response], bool]


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - (time.time() if now is None else now)


class Backoff:
    """Tenacity wait: ``Retry-After`` when positive, else exponential backoff with jitter."""

    def __init__(self, policy: Retry) -> None:
        self.policy = policy

    def __call__(self, state: RetryCallState) -> float:
        asked = None
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            for header in self.policy.retry_after_headers:  # the first one present wins
                asked = retry_after_seconds(response.headers.get(header))
                if asked is not None:
                    break
        if asked is not None and asked > 0:
            delay = asked * random.uniform(1.0, 1.1)
        else:
            base = self.policy.backoff_factor * 2 ** (state.attempt_number - 1)
            delay = random.uniform(base / 2, base)  # "equal jitter"
        return min(max(delay, MIN_DELAY), self.policy.max_delay)


class Transport:
    """Sends the requests of one source; sessions are per thread, the pool is shared."""

    def __init__(
        self,
        source: str,
        client: Client,
        budget: RateBudget | None,
        guard: OriginBoundAuth | None = None,
    ) -> None:
        self.source = source
        self.guard = guard  # keeps credentials off redirects to another origin
        self.timeout = client.timeout
        self.verify = client.verify
        self.policy = client.retry
        self.budget = budget
        self.limit = client.rate_limit
        self._most_remaining = 0  # the highest count the server reported (caps the floor)
        self._adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        """This thread's session (``requests.Session`` is not safe to share across threads)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = GuardedSession()
            session.guard = self.guard
            session.headers["User-Agent"] = USER_AGENT
            session.mount("http://", self._adapter)
            session.mount("https://", self._adapter)
            self._local.session = session
        return session

    def send(
        self, request: requests.Request, where: PageRef, retry_on: RetryOn
    ) -> requests.Response:
        """Send with the declared retries; transport failures become ``ExtractError``."""

        def should_retry(state: RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None:
                return False
            if outcome.failed:
                return isinstance(outcome.exception(), RETRY_EXCEPTIONS)
            return retry_on(outcome.result())

        def before_sleep(state: RetryCallState) -> None:
            stats.count(self.source, where.model, "retries")
            outcome = state.outcome
            why = "no response"
            if outcome is not None and not outcome.failed:
                why = f"HTTP {outcome.result().status_code}"
            elif outcome is not None:
                why = type(outcome.exception()).__name__
            sleep = state.next_action.sleep if state.next_action else 0.0
            log.info(
                "%s: %s, retry %d/%d in %.2f s",
                where.describe(),
                why,
                state.attempt_number,
                self.policy.max_attempts - 1,
                sleep,
            )

        def give_up(state: RetryCallState) -> requests.Response:
            outcome = state.outcome
            assert outcome is not None
            if outcome.failed:
                exc = outcome.exception()
                assert exc is not None
                raise where.error(
                    f"{type(exc).__name__} after {state.attempt_number} attempt(s): {_short(exc)}",
                ) from None
            response: requests.Response = outcome.result()
            response.attempts = state.attempt_number  # type: ignore[attr-defined]
            return response

        retrying = Retrying(
            retry=should_retry,
            wait=Backoff(self.policy),
            stop=stop_after_attempt(self.policy.max_attempts),
            before_sleep=before_sleep,
            retry_error_callback=give_up,
        )
        try:
            response: requests.Response = retrying(self._attempt, request, where.model)
            if response.status_code == 401 and refresh_token(request.auth):
                log.info("%s: HTTP 401, token refreshed once", where.describe())
                response = retrying(self._attempt, request, where.model)
                response.refreshed = True  # type: ignore[attr-defined]
        except requests.RequestException as exc:
            raise where.error(f"{type(exc).__name__}: {_short(exc)}") from None
        return response

    def _attempt(self, request: requests.Request, model: str) -> requests.Response:
        if self.budget is not None:
            self.budget.acquire()
        stats.count(self.source, model, "requests")
        session = self.session
        prepared = session.prepare_request(request)  # auth runs here, once per attempt
        response = session.send(prepared, timeout=self.timeout, verify=self.verify)
        self._mind_remaining(response, model)
        return response

    def _mind_remaining(self, response: requests.Response, model: str) -> None:
        """Hold the budget when the server says its own allowance is nearly spent.

        The floor is capped at a quarter of the highest count the server has reported: a
        floor above a small server's whole allowance would otherwise pause every request.
        """
        limit = self.limit
        if limit is None or limit.remaining_header is None or self.budget is None:
            return
        value = response.headers.get(limit.remaining_header, "").strip()
        if not re.fullmatch(r"\d+", value):
            return
        left = int(value)
        self._most_remaining = max(self._most_remaining, left)
        if left > min(limit.remaining_floor, self._most_remaining // 4):
            return
        if self.budget.hold(limit.remaining_pause):
            stats.count(self.source, model, "pauses")
            log.info(
                "%s/%s: %s says %d request(s) left, pausing %.1f s",
                self.source,
                model,
                limit.remaining_header,
                left,
                limit.remaining_pause,
            )


def _short(exc: BaseException) -> str:
    """A one-line description of a transport error, without the URL it may carry."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"url: \S+", "url: <see above>", text)
    text = re.sub(r"https?://\S+", "<url>", text)
    return text[:300]


def check_status(response: requests.Response, where: PageRef) -> None:
    """Raise ``ExtractError`` for an HTTP error status (body shortened, secrets redacted)."""
    if response.status_code < 400:
        return
    attempts = getattr(response, "attempts", 1)
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    message = f"HTTP {response.status_code} {response.reason}{tried}"
    if response.status_code not in AUTH_STATUSES:  # auth errors may echo credentials
        message += f": {' '.join(response.text[:200].split())!r}"
    elif error_code(response):
        message += f" ({error_code(response)})"
    if getattr(response, "refreshed", False):
        message += " even after refreshing the token"
    raise where.error(message)
