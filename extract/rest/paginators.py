"""Paginators by name (a registry over dlt's paginators) and the walk over pages.

``register_paginator(name, factory)`` adds a style; a factory turns the manifest's
``Paginator`` block into a dlt ``BasePaginator`` (``None`` means: let dlt detect it). Stop
rules that apply to every style (``has_more_path``, ``stop_after_empty_page``,
``max_pages``) and loop detection live in ``PageWalk``, not in each paginator.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from dlt.common import jsonpath
from dlt.common.utils import str2bool
from dlt.sources.helpers.rest_client.paginators import (
    BasePaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    JSONResponseCursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePagePaginator,
)
from requests import Request, Response

from extract.errors import ResponseShapeError, UnknownValueError
from extract.manifest.paginator_types import (
    AutoPaginatorConfig,
    CursorPaginatorConfig,
    JsonLinkPaginatorConfig,
    OffsetPaginatorConfig,
    PageNumberPaginatorConfig,
    Paginator,
    RegisteredPaginatorConfig,
)

# a factory receives its style's typed block (a RegisteredPaginatorConfig for added styles)
PaginatorFactory = Callable[[Any], BasePaginator | None]
Detect = Callable[[Response, list[Any]], BasePaginator]

STOP_FIELDS = frozenset({"has_more_path", "stop_after_empty_page", "max_pages"})
_registry: dict[str, tuple[PaginatorFactory, frozenset[str] | None]] = {}


def register_paginator(
    name: str, factory: PaginatorFactory, fields: Iterable[str] | None = None
) -> None:
    """Add (or replace) a paginator style; ``fields`` lists the keys it reads, if known."""
    _registry[name] = (factory, None if fields is None else frozenset(fields) | STOP_FIELDS)


def available_paginators() -> list[str]:
    """Registered style names, sorted."""
    return sorted(_registry)


def _lookup(name: str) -> tuple[PaginatorFactory, frozenset[str] | None]:
    if name not in _registry:
        raise UnknownValueError("paginator", name, available_paginators())
    return _registry[name]


def create_paginator(spec: Paginator | None) -> BasePaginator | None:
    """A fresh dlt paginator for a manifest block; ``None`` for ``auto`` or no block."""
    if spec is None:
        return None
    factory, _ = _lookup(spec.type)
    return factory(spec)


def paginator_problems(spec: Paginator) -> list[tuple[str | None, str]]:
    """(key, message) for an unknown style, keys a registered style ignores, or a failing
    factory (a built-in style's keys were checked by its typed model)."""
    try:
        factory, fields = _lookup(spec.type)
    except ValueError as exc:
        return [("type", str(exc))]
    problems: list[tuple[str | None, str]] = []
    if isinstance(spec, RegisteredPaginatorConfig) and fields is not None:
        for key in sorted(set(spec.model_extra or {}) - fields):
            problems.append((key, f"key '{key}' is not used by paginator '{spec.type}'"))
    try:
        factory(spec)
    except (TypeError, ValueError) as exc:
        problems.append((None, str(exc)))
    return problems


def _read(response: Response, path: str) -> Any:
    values = jsonpath.find_values(path, response.json())
    return values[0] if values else None


def _read_int(response: Response, path: str, what: str) -> int:
    value = _read(response, path)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ResponseShapeError(
            f"{what} '{path}' is missing or not an integer (got {value!r})"
        ) from None


class OffsetPages(OffsetPaginator):
    """dlt's offset paginator that also remembers the total, so pages can be planned."""

    total: int | None = None

    def __init__(self, total_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(total_path=total_path, **kwargs)
        self.total_items_path = total_path

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if self.total_items_path and data:
            self.total = _read_int(response, self.total_items_path, "total_path")
        super().update_state(response, data)

    def remaining_values(self) -> list[int] | None:
        """Offsets still to fetch when the total is known."""
        if self.total is None or not self.has_next_page:
            return None
        return list(range(self.current_value, self.total, self.value_step))


class PageNumbers(PageNumberPaginator):
    """dlt's page number paginator; the total may be pages or records (``total_path``)."""

    total_pages: int | None = None

    def __init__(
        self,
        total_pages_path: str | None,
        total_path: str | None,
        limit: int | None,
        limit_param: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(total_path=total_pages_path, **kwargs)
        self.pages_path, self.records_path = total_pages_path, total_path
        self.limit, self.limit_param = limit, limit_param
        self._page_size = limit

    def init_request(self, request: Request) -> None:
        super().init_request(request)
        if self.limit and self.limit_param:
            self._update_request_with_param_name(request, self.limit_param, self.limit)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if data and self.pages_path:
            self.total_pages = _read_int(response, self.pages_path, "total_pages_path")
        elif data and self.records_path:
            self._page_size = self._page_size or len(data)
            records = _read_int(response, self.records_path, "total_path")
            self.total_pages = math.ceil(records / self._page_size)
        super().update_state(response, data)
        if self.total_pages is not None and self.current_value >= self._end():
            self._has_next_page = False

    def _end(self) -> int:
        assert self.total_pages is not None
        return self.base_index + self.total_pages

    def remaining_values(self) -> list[int] | None:
        """Page numbers still to fetch when the total is known."""
        if self.total_pages is None or not self.has_next_page:
            return None
        return list(range(self.current_value, self._end()))


def _offset(spec: OffsetPaginatorConfig) -> BasePaginator:
    return OffsetPages(
        limit=spec.limit,
        offset_param=spec.offset_param,
        limit_param=spec.limit_param,
        total_path=spec.total_path,
        maximum_offset=spec.limit * spec.max_pages if spec.max_pages else None,
        # with a declared total, an empty page in the middle must not end the walk
        stop_after_empty_page=_empty_stop(spec, spec.total_path is None),
        has_more_path=spec.has_more_path,
    )


def _page_number(spec: PageNumberPaginatorConfig) -> BasePaginator:
    return PageNumbers(
        total_pages_path=spec.total_pages_path,
        total_path=spec.total_path,
        limit=spec.limit,
        limit_param=spec.limit_param,
        base_page=spec.base_page,
        page_param=spec.page_param,
        maximum_page=spec.base_page + spec.max_pages if spec.max_pages else None,
        stop_after_empty_page=_empty_stop(spec, spec.total_pages_path is None),
        has_more_path=spec.has_more_path,
    )


def _cursor(spec: CursorPaginatorConfig) -> BasePaginator:
    return JSONResponseCursorPaginator(
        cursor_path=spec.cursor_path,
        cursor_param=spec.cursor_param if spec.cursor_body_path is None else None,
        cursor_body_path=spec.cursor_body_path,
    )


def _json_link(spec: JsonLinkPaginatorConfig) -> BasePaginator:
    return JSONLinkPaginator(next_url_path=spec.next_url_path)


def _empty_stop(spec: OffsetPaginatorConfig | PageNumberPaginatorConfig, default: bool) -> bool:
    return default if spec.stop_after_empty_page is None else spec.stop_after_empty_page


register_paginator("offset", _offset)
register_paginator("page_number", _page_number)
register_paginator("cursor", _cursor)
register_paginator("json_link", _json_link)
register_paginator("header_link", lambda spec: HeaderLinkPaginator())
register_paginator("single_page", lambda spec: SinglePagePaginator())
register_paginator("auto", lambda spec: None)


class PaginationLoop(ValueError):
    """The next request repeats an earlier one: the API sent a cursor or URL seen before."""


TOTAL_HEADERS = ("X-Total-Count", "X-Total")


def declared_total(spec: Paginator, response: Response) -> tuple[int, str] | None:
    """The records a response says the walk holds (a total header or ``total_path``)."""
    for header in TOTAL_HEADERS:
        value = response.headers.get(header, "").strip()
        if value.isdigit():
            return int(value), f"the {header} header"
    total_path = getattr(spec, "total_path", None)  # offset and page_number only
    if total_path:
        try:
            return _read_int(response, total_path, "total_path"), f"'{total_path}'"
        except ValueError:
            return None
    return None


class TotalMismatch(ValueError):
    """A walk ended with more or fewer records or pages than the API declared."""


class PageWalk:
    """One walk over the pages of one request: a dlt paginator plus the generic stop rules."""

    def __init__(self, spec: Paginator | None, detect: Detect) -> None:
        self.paginator = create_paginator(spec)
        self.spec: Paginator = spec or AutoPaginatorConfig(type="auto")
        self.pages_path: str | None = None
        if isinstance(spec, PageNumberPaginatorConfig):
            self.pages_path = spec.total_pages_path
        self.detect = detect
        self.pages = 0
        self.capped = False  # max_pages ended the walk: fewer records than declared is fine
        self.declared: tuple[int, str] | None = None
        self.declared_pages: int | None = None
        self._seen: set[str] = set()
        self._last_digest: str | None = None

    def start(self, request: Request) -> None:
        """Put the first page's parameters into the request."""
        if self.paginator is not None:
            self.paginator.init_request(request)
        self._seen.add(_fingerprint(request))

    def advance(self, response: Response, data: list[Any], request: Request) -> bool:
        """Digest a page; update ``request`` for the next one and tell whether there is one."""
        self.pages += 1
        if self.paginator is None:
            self.paginator = self.detect(response, data)
        if self.pages == 1:
            self._declare(response, data)
        self.paginator.update_state(response, data)
        if not self.paginator.has_next_page or self._stop_rule(response, data):
            return False
        self.paginator.update_request(request)
        fingerprint = _fingerprint(request)
        if fingerprint in self._seen:
            raise PaginationLoop(
                f"pagination loop: the next page repeats an earlier request "
                f"(cursor or next URL seen twice) after {self.pages} page(s)"
            )
        self._seen.add(fingerprint)
        self._same_as_last(response, data)
        return True

    def _declare(self, response: Response, data: list[Any]) -> None:
        self.declared = declared_total(self.spec, response)
        pages_path = self.pages_path
        if pages_path and data:
            value = _read(response, pages_path)
            self.declared_pages = value if isinstance(value, int) else None

    def check_total(self, records: int, pages: int, empty: list[int] | None = None) -> None:
        """Fail when the walk ended short of (or beyond) what the API declared; ``empty``
        lists the pages that came back without records."""
        if self.capped:
            return
        if self.declared is not None and records != self.declared[0]:
            total, where = self.declared
            blanks = f"; empty: page {', page '.join(map(str, empty))}" if empty else ""
            raise TotalMismatch(
                f"the walk ended with {records:,} of {total:,} records declared by {where} "
                f"after {pages} page(s): {'missing' if records < total else 'extra'} "
                f"{abs(total - records):,}{blanks}; check the paginator (does the first "
                "request carry the page parameter?)"
            )
        if self.declared_pages is not None and pages != self.declared_pages:
            raise TotalMismatch(
                f"the walk ended after {pages} of {self.declared_pages} pages declared "
                f"by '{self.pages_path}'"
            )

    def _same_as_last(self, response: Response, data: list[Any]) -> None:
        digest = hashlib.sha256(response.content).hexdigest() if data else None
        if digest is not None and digest == self._last_digest:
            raise PaginationLoop(
                f"pagination loop: page {self.pages} repeats page {self.pages - 1} byte for byte "
                "(does the API ignore the page parameter?)"
            )
        self._last_digest = digest

    def _stop_rule(self, response: Response, data: list[Any]) -> bool:
        spec = self.spec
        if spec.max_pages is not None and self.pages >= spec.max_pages:
            self.capped = True
            return True
        if spec.stop_after_empty_page and not data:
            return True
        if spec.has_more_path:
            value = _read(response, spec.has_more_path)
            if value is None:
                raise ValueError(f"has_more_path '{spec.has_more_path}' not found in response")
            return not (str2bool(value) if isinstance(value, str) else bool(value))
        return False

    def planned(self, request: Request) -> list[Request]:
        """When the total is known after the first page: one request per remaining page."""
        paginator = self.paginator
        if not isinstance(paginator, OffsetPages | PageNumbers):
            return []
        values = paginator.remaining_values() or []
        if self.spec.max_pages is not None:
            self.capped = self.capped or len(values) > self.spec.max_pages - self.pages
            values = values[: max(self.spec.max_pages - self.pages, 0)]
        requests = []
        for value in values:
            clone = _clone(request)
            paginator.current_value = value
            paginator.update_request(clone)
            requests.append(clone)
        return requests


def _clone(request: Request) -> Request:
    return Request(
        method=request.method,
        url=request.url,
        headers=dict(request.headers),
        params=dict(request.params or {}),
        json=copy.deepcopy(request.json),
        auth=request.auth,
    )


def _fingerprint(request: Request) -> str:
    params = sorted((str(k), str(v)) for k, v in (request.params or {}).items())
    body = json.dumps(request.json, sort_keys=True, default=str)
    return f"{request.method} {request.url} {params} {body}"
