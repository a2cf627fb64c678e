"""``kspyder preview``: the first records of a model, extracted in memory, nothing loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from extract.manifest.typing import Source
from extract.sources import build_source, select_models


def preview_records(source: Source, model: str, limit: int) -> Iterator[dict[str, Any]]:
    """Yield up to ``limit`` records of one model, with extract-time PII already applied."""
    select_models(source, [model])
    resource = build_source(source, [model]).resources[model]
    count = 0
    for item in resource.add_limit(max(1, limit)):
        rows = item.to_pylist() if isinstance(item, pa.Table) else item
        for row in rows if isinstance(rows, list) else [rows]:
            yield row
            count += 1
            if count >= limit:
                return
