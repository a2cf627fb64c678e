"""Fetch the pages of one endpoint: send, apply response actions, parse, select records.

Pages come in page order. When the total is known after the first page (``page_number`` or
``offset`` with a total) and ``concurrency`` > 1, the remaining pages are fetched by a
thread pool, still within the source's rate budget, and yielded in page order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dlt.common import jsonpath
from dlt.sources.helpers.rest_client.detector import PaginatorFactory, find_response_page_data
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from extract.manifest.paginator_types import Paginator
from extract.manifest.typing import RecordsFrom, ResponseAction
from extract.rest import stats
from extract.rest.context import PageRef
from extract.rest.paginators import PageWalk, TotalMismatch
from extract.rest.records import rows_to_records
from extract.rest.transport import Transport, check_status

log = logging.getLogger(__name__)
LOOKAHEAD = 4  # pages queued per worker, so one slow page does not idle the rate budget


@dataclass
class EndpointFetcher:
    """Everything needed to walk the pages of one model's endpoint."""

    source: str
    model: str
    transport: Transport
    paginator: Paginator | None
    data_selector: str | None = None
    actions: list[ResponseAction] = field(default_factory=list)
    concurrency: int = 1
    _ignored: bool = False
    records_from: RecordsFrom | None = None

    def pages(self, request: Request) -> Iterator[list[Any]]:
        """Yield the record lists of every page of ``request`` (mutated while walking); a
        walk ending with more or fewer records than the API declared fails."""
        walk = PageWalk(self.paginator, self._detect_paginator)
        records, pages, empty, self._ignored = 0, 0, [], False
        for data in self._walk(walk, request):
            records, pages = records + len(data), pages + 1
            if not data:
                empty.append(pages)
            yield data
        if self._ignored:
            return  # a response action ignored a page: its records were never counted
        try:
            walk.check_total(records, pages, empty)
        except TotalMismatch as exc:
            where = PageRef.of(self.source, self.model, pages, request)
            raise where.error(str(exc)) from None

    def _walk(self, walk: PageWalk, request: Request) -> Iterator[list[Any]]:
        walk.start(request)
        selector = self.data_selector
        page = 1
        while True:
            where = PageRef.of(self.source, self.model, page, request)
            response = self._fetch(request, where)
            if response is None:
                return
            payload = _parse(response, where)
            selector = selector or _detect_selector(payload)
            data = self._records(payload, selector, where)
            try:
                more = walk.advance(response, data, request)
            except (ValueError, KeyError, TypeError) as exc:
                raise where.error(str(exc)[:300]) from None
            yield self._counted(data)
            if not more:
                return
            if page == 1 and self.concurrency > 1:
                planned = walk.planned(request)
                if planned:
                    yield from self._concurrent(planned, selector)
                    return
            page += 1

    def _counted(self, data: list[Any]) -> list[Any]:
        stats.count(self.source, self.model, "pages")
        stats.count(self.source, self.model, "records", len(data))
        return data

    def _concurrent(self, requests: list[Request], selector: str) -> Iterator[list[Any]]:
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"kspyder-{self.model}")
        pending: deque[Future[list[Any] | None]] = deque()
        queue = iter(enumerate(requests, start=2))

        def submit() -> None:
            for page, request in queue:
                pending.append(pool.submit(self._one_page, request, page, selector))
                return

        try:
            for _ in range(self.concurrency * LOOKAHEAD):  # pages in flight or waiting
                submit()
            while pending:
                data = pending.popleft().result()
                submit()
                if data is not None:
                    yield self._counted(data)
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _one_page(self, request: Request, page: int, selector: str) -> list[Any] | None:
        where = PageRef.of(self.source, self.model, page, request)
        response = self._fetch(request, where)
        if response is None:
            return None
        return self._records(_parse(response, where), selector, where)

    def _records(self, payload: Any, selector: str, where: PageRef) -> list[Any]:
        if self.records_from is None:
            return _select(payload, selector, where, explicit=bool(self.data_selector))
        try:
            return rows_to_records(payload, self.records_from)
        except ValueError as exc:
            raise where.error(str(exc)) from None

    def _action(self, response: Response) -> str | None:
        for action in self.actions:
            if action.status_code is not None and response.status_code != action.status_code:
                continue
            if action.content is not None and action.content not in response.text:
                continue
            return action.action
        return None

    def _retry_on(self, response: Response) -> bool:
        action = self._action(response)
        if action is not None:
            return action == "retry"
        return response.status_code in self.transport.policy.statuses

    def _fetch(self, request: Request, where: PageRef) -> Response | None:
        response = self.transport.send(request, where, self._retry_on)
        action = self._action(response)
        if action == "ignore":
            self._ignored = True
            log.info(
                "%s: HTTP %s ignored (response action)", where.describe(), response.status_code
            )
            return None
        if action is not None:  # "fail", or "retry" still matching after the last attempt
            attempts = getattr(response, "attempts", 1)
            raise where.error(
                f"response action '{action}' matched HTTP {response.status_code} "
                f"after {attempts} attempt(s)"
            )
        check_status(response, where)
        return response

    def _detect_paginator(self, response: Response, data: list[Any]) -> BasePaginator:
        paginator, score = PaginatorFactory().create_paginator(response)
        if paginator is None:
            raise ValueError("no paginator detected: declare endpoint.paginator")
        log.info(
            "REST %s.%s: detected paginator %s (score %s)",
            self.source,
            self.model,
            type(paginator).__name__,
            score,
        )
        return paginator


def _parse(response: Response, where: PageRef) -> Any:
    """The JSON body, or an error that says what came instead (HTML page, truncated JSON)."""
    try:
        return response.json()
    except ValueError:
        pass
    content_type = response.headers.get("Content-Type", "no content type")
    head = response.text[:80]
    is_html = "html" in content_type.lower() or head.lstrip().startswith("<")
    kind = "an HTML page" if is_html else "invalid or truncated JSON"
    raise where.error(
        f"HTTP {response.status_code} returned {kind} instead of JSON "
        f"({content_type}, {len(response.content)} bytes): {head!r}"
    )


def _detect_selector(payload: Any) -> str:
    path, _ = find_response_page_data(payload)
    return ".".join(path) or "$"


def _select(payload: Any, selector: str, where: PageRef, explicit: bool) -> list[Any]:
    """Records at the JSON path ``selector``; a declared path missing from an object fails."""
    values = jsonpath.find_values(selector, payload)
    if not values:
        if explicit:
            if isinstance(payload, dict):
                got = f"keys: {', '.join(sorted(payload)[:10])}"
            else:
                got = f"a JSON {type(payload).__name__}"
            raise where.error(f"data_selector '{selector}' not found in the response ({got})")
        return []
    data = values[0] if len(values) == 1 else values
    if data is None:
        return []
    return data if isinstance(data, list) else [data]
