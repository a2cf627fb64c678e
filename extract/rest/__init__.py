"""``kind: rest`` sources: manifest models -> dlt resources on dlt's REST client machinery.

``build_rest_source(source)`` is the entry point; ``rest_stats(source)`` gives the request
counters of the current run. Its manifest checks are
``extract.rest.checks.check_rest_source``, named in ``extract.kinds``; ``register_paginator``
adds paginators to the built-in ones.
"""

from __future__ import annotations

import logging

from dlt.common.schema import Schema
from dlt.extract.source import DltSource

from extract.errors import ExtractError
from extract.manifest.typing import Source
from extract.rest import stats
from extract.rest.auth import create_auth
from extract.rest.checks import check_rest_source
from extract.rest.paginators import available_paginators, register_paginator
from extract.rest.resources import build_resources, with_ancestors
from extract.rest.stats import reset_rest_stats, rest_stats
from extract.rest.throttle import budget_for
from extract.rest.transport import Transport
from extract.secrets import RedactingFilter
from extract.sources import select_models

__all__ = [
    "available_paginators",
    "build_rest_source",
    "register_paginator",
    "reset_rest_stats",
    "rest_stats",
]

# urllib3 logs full request URLs at DEBUG, query-string API keys included
logging.getLogger("urllib3.connectionpool").addFilter(RedactingFilter())


def build_rest_source(source: Source, models: list[str] | None = None) -> DltSource:
    """A dlt source named after the manifest, with one resource per selected model.

    Parents of selected children are added but deselected. Hints applied: primary_key,
    write_disposition and incremental; PII and column types are left to the caller.
    Building the source resets its ``rest_stats``.
    """
    if source.kind != "rest" or source.client is None:
        raise ExtractError(f"source '{source.name}' is not a REST source")
    problems = [f"{'.'.join(map(str, at))}: {msg}" for at, msg in check_rest_source(source)]
    if problems:
        raise ExtractError(f"REST source '{source.name}': " + "; ".join(problems))
    selected = select_models(source, models)
    needed = with_ancestors(source, selected)
    stats.start(source.name, selected)
    client = source.client
    auth = create_auth(client.auth, client)
    budget = budget_for(source.name, client.rate_limit)
    transport = Transport(source.name, client, budget, guard=auth)
    schema = Schema(source.name)
    resources = build_resources(source, needed, transport, auth, schema)
    dlt_source = DltSource(schema, source.name, list(resources.values()))
    for name in needed:
        if name not in selected:
            dlt_source.resources[name].selected = False
    return dlt_source
