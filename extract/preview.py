"""``kspyder preview``: the first records of a model, extracted in memory, nothing loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from dlt.extract.resource import DltResource

from extract.errors import KspyderError, root_cause
from extract.manifest.typing import Source
from extract.sources import build_source, select_models


def preview_records(source: Source, model: str, limit: int) -> Iterator[dict[str, Any]]:
    """Yield up to ``limit`` records of one model, with extract-time PII already applied.

    A failure (dlt wraps it, for a child model in its parent's pipe) is raised as the
    innermost ``KspyderError``, the clean message ``extract`` reports too.
    """
    select_models(source, [model])
    resource = build_source(source, [model]).resources[model]
    try:
        yield from _first(resource, limit)
    except KspyderError:
        raise
    except Exception as exc:
        inner = root_cause(exc)
        if isinstance(inner, KspyderError):
            raise inner from None
        raise


def _first(resource: DltResource, limit: int) -> Iterator[dict[str, Any]]:
    count = 0
    if resource.is_transformer:  # dlt ignores add_limit on transformers: stop here instead
        items = iter(resource)
    else:
        items = iter(resource.add_limit(max(1, limit)))
    for item in items:
        rows = item.to_pylist() if isinstance(item, pa.Table) else item
        for row in rows if isinstance(rows, list) else [rows]:
            yield row
            count += 1
            if count >= limit:
                return
