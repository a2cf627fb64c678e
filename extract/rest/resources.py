"""Turn the models of a REST source into dlt resources (parents first, children as transformers).

A child model names its parent with ``parent:`` or with ``{parent.field}`` placeholders in its
endpoint (path, params or JSON body); it is called once per parent record, and
``include_from_parent: [id]`` copies ``id`` into each child record as ``_<parent>_id``, as
dlt's ``rest_api`` does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import dlt
from dlt.common import jsonpath
from dlt.common.schema import Schema
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client.utils import join_url
from requests import Request
from requests.auth import AuthBase

from extract import integrity
from extract.depth import strings
from extract.errors import ExtractError
from extract.manifest.typing import Endpoint, Model, Source
from extract.rest.auth import plain_headers
from extract.rest.fetch import EndpointFetcher
from extract.rest.incremental import make_incremental, older_than, param_value
from extract.rest.keys import KeyCheck
from extract.rest.transport import Transport

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\.([A-Za-z0-9_.\-]+)\}")


def endpoint_of(model: Model) -> Endpoint:
    """The model's endpoint; a model without one reads ``/<model name>``."""
    return model.endpoint or Endpoint(path=model.name)


def placeholders(endpoint: Endpoint) -> list[tuple[str, str]]:
    """``(model, field)`` of every ``{model.field}`` in the path, params and JSON body."""
    texts = [endpoint.path, *strings(endpoint.params), *strings(endpoint.json_body)]
    return [(m.group(1), m.group(2)) for text in texts for m in PLACEHOLDER.finditer(text)]


def parent_of(model: Model) -> str | None:
    """The declared parent, else the model its placeholders name."""
    if model.parent:
        return model.parent
    named = {name for name, _ in placeholders(endpoint_of(model))}
    return next(iter(named)) if len(named) == 1 else None


def with_ancestors(source: Source, names: Iterable[str]) -> list[str]:
    """The models plus every parent they need, parents before children."""
    ordered: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in trail:
            raise ExtractError(f"REST source '{source.name}': parent cycle {' -> '.join(trail)}")
        parent = parent_of(source.models[name])
        if parent is not None:
            visit(parent, (*trail, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered


def _field(item: Any, field: str, parent: str, child: str) -> Any:
    values = jsonpath.find_values(field, item) if isinstance(item, dict) else []
    if not values:
        fields = ", ".join(sorted(item)[:20]) if isinstance(item, dict) else type(item).__name__
        raise ExtractError(
            f"REST model '{child}': a record of parent '{parent}' has no field '{field}' "
            f"(fields: {fields})"
        )
    return values[0]


def _fill(value: Any, parent: str, item: Any, child: str, in_path: bool = False) -> Any:
    """Replace ``{parent.field}`` placeholders; a lone placeholder keeps the value's type."""
    if isinstance(value, dict):
        return {k: _fill(v, parent, item, child) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, parent, item, child) for v in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if whole and whole.group(1) == parent and not in_path:
        return _field(item, whole.group(2), parent, child)

    def sub(match: re.Match[str]) -> str:
        if match.group(1) != parent:
            return match.group(0)
        got = str(_field(item, match.group(2), parent, child))
        return quote(got, safe="") if in_path else got

    return PLACEHOLDER.sub(sub, value)


@dataclass
class RequestTemplate:
    """The first request of a model, before pagination and placeholders."""

    source: Source
    model: Model
    auth: AuthBase | None

    def sent(self, cursor: Any) -> Any:
        """The value the incremental parameter carries (None without one)."""
        spec = self.model.incremental
        if spec is None or not spec.param or cursor is None:
            return None
        start, (raw, _) = cursor.start_value, cursor.get_current_range(apply_lag=False)
        # dlt's lag moved start_value back from the last run's cursor; the initial value
        # (first run) is not lagged by dlt
        return param_value(start, None if start != raw else spec.lookback)

    def count_stale(self, page: list[Any], sent: Any) -> None:
        """Count the records older than the cursor sent (the endpoint ignores it)."""
        spec = self.model.incremental
        if sent is not None and spec is not None:
            stale = older_than(page, spec.cursor, sent)
            integrity.count(self.source.name, self.model.name, "stale", stale)

    def build(self, cursor: Any, parent: str | None = None, item: Any = None) -> Request:
        """A new request; ``cursor`` is the model's dlt incremental, if any."""
        client, endpoint = self.source.client, endpoint_of(self.model)
        assert client is not None
        path: str = endpoint.path
        params = {**client.params, **endpoint.params}
        body = copy.deepcopy(endpoint.json_body)
        if parent is not None:
            path = _fill(path, parent, item, self.model.name, in_path=True)
            params = _fill(params, parent, item, self.model.name)
            body = _fill(body, parent, item, self.model.name)
        value, spec = self.sent(cursor), self.model.incremental
        if value is not None and spec is not None and spec.param:
            params[spec.param] = value
        return Request(
            method=endpoint.method,
            url=join_url(client.base_url, path),
            headers=plain_headers(client),
            params=params,
            json=body,
            auth=self.auth,
        )


def _fetcher(source: Source, model: Model, transport: Transport) -> EndpointFetcher:
    client, endpoint = source.client, endpoint_of(model)
    assert client is not None
    return EndpointFetcher(
        source=source.name,
        model=model.name,
        transport=transport,
        paginator=endpoint.paginator or client.paginator,
        data_selector=endpoint.data_selector,
        actions=list(endpoint.response_actions),
        concurrency=endpoint.concurrency,
        records_from=endpoint.records_from,
    )


def _with_hints(resource: DltResource, model: Model) -> DltResource:
    resource.apply_hints(write_disposition=model.write_disposition)
    if model.primary_key:
        resource.apply_hints(primary_key=list(model.primary_key))
    return resource


def _top_level(template: RequestTemplate, fetcher: EndpointFetcher, keys: KeyCheck) -> DltResource:
    incremental = make_incremental(template.model.incremental)  # dlt binds it to the state

    def fetch(cursor: Any = incremental) -> Iterator[list[Any]]:
        sent = template.sent(cursor)
        for page in fetcher.pages(template.build(cursor)):
            keys.check(page)
            template.count_stale(page, sent)
            yield page

    return _with_hints(dlt.resource(fetch, name=template.model.name), template.model)


def _child(
    template: RequestTemplate, fetcher: EndpointFetcher, keys: KeyCheck, parent: DltResource
) -> DltResource:
    model = template.model
    include = list(model.include_from_parent)

    incremental = make_incremental(model.incremental)

    def fetch(items: Any, cursor: Any = incremental) -> Iterator[list[Any]]:
        sent = template.sent(cursor)
        for item in items if isinstance(items, list) else [items]:
            extra = {
                f"_{parent.name}_{f}": _field(item, f, parent.name, model.name) for f in include
            }
            for page in fetcher.pages(template.build(cursor, parent.name, item)):
                for record in page:
                    if extra and isinstance(record, dict):
                        record.update(extra)
                keys.check(page)
                template.count_stale(page, sent)
                yield page

    return _with_hints(dlt.transformer(fetch, data_from=parent, name=model.name), model)


def build_resources(
    source: Source,
    names: list[str],
    transport: Transport,
    auth: AuthBase | None,
    schema: Schema | None = None,
) -> dict[str, DltResource]:
    """One resource per name (names must list parents before their children).

    ``schema`` (the source's) gives the naming convention record keys are checked with.
    """
    schema = Schema(source.name) if schema is None else schema
    resources: dict[str, DltResource] = {}
    for name in names:
        model = source.models[name]
        template = RequestTemplate(source, model, auth)
        fetcher = _fetcher(source, model, transport)
        keys = KeyCheck(source.name, model, schema, enabled=source.target != "documents")
        parent = parent_of(model)
        if parent is None:
            resources[name] = _top_level(template, fetcher, keys)
        else:
            resources[name] = _child(template, fetcher, keys, resources[parent])
    return resources
