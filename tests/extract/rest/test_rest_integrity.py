"""Unit cases of the REST integrity helpers: declared totals, stale records, reserved names."""

from __future__ import annotations

import json

import pytest
from requests import Response

from extract.lookback import lag_of
from extract.manifest.paginator_types import (
    HeaderLinkPaginatorConfig,
    OffsetPaginatorConfig,
    Paginator,
)
from extract.manifest.typing import Incremental
from extract.rest.incremental import older_than
from extract.rest.keys import rename_reserved
from extract.rest.paginators import PageWalk, TotalMismatch, declared_total


def _response(body: object, headers: dict[str, str] | None = None) -> Response:
    response = Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    ("spec", "response", "expected"),
    [
        (
            HeaderLinkPaginatorConfig(type="header_link"),
            _response([], {"X-Total-Count": "2500"}),
            2500,
        ),
        (HeaderLinkPaginatorConfig(type="header_link"), _response([], {"X-Total": " 7 "}), 7),
        (
            OffsetPaginatorConfig(type="offset", limit=10, total_path="meta.total"),
            _response({"meta": {"total": 3}}),
            3,
        ),
        (
            OffsetPaginatorConfig(type="offset", limit=10, total_path="total"),
            _response({"total": "n/a"}),
            None,
        ),
        (
            HeaderLinkPaginatorConfig(type="header_link"),
            _response([], {"X-Total-Count": "many"}),
            None,
        ),
    ],
)
def test_declared_total(spec: Paginator, response: Response, expected: int | None) -> None:
    got = declared_total(spec, response)
    assert (got[0] if got else None) == expected


def test_check_total_names_both_numbers_unless_max_pages_capped() -> None:
    walk = PageWalk(HeaderLinkPaginatorConfig(type="header_link"), lambda r, d: None)  # type: ignore[arg-type,return-value]
    walk.declared = (2500, "the X-Total-Count header")
    with pytest.raises(TotalMismatch, match=r"100 of 2,500 records .* missing 2,400"):
        walk.check_total(100, 1)
    with pytest.raises(TotalMismatch, match=r"2,600 of 2,500 records .* extra 100"):
        walk.check_total(2600, 26)
    walk.check_total(2500, 25)
    walk.capped = True
    walk.check_total(100, 1)


def test_older_than_compares_instants_not_strings() -> None:
    records = [
        {"updated_at": "2024-01-01T00:00:00Z"},
        {"updated_at": "2024-01-02T01:00:00+02:00"},  # 2024-01-01T23:00Z: older
        {"updated_at": "2024-01-02T00:00:00Z"},  # equal: not older
        {"updated_at": None},
        {"other": 1},
        "not a record",
    ]
    assert older_than(records, "updated_at", "2024-01-02T00:00:00Z") == 2
    assert older_than([{"n": 1}, {"n": 5}], "n", 3) == 1
    assert older_than(records, "updated_at", "not a timestamp") == 0


def test_rename_reserved_keeps_values_under_source_names() -> None:
    record = {"id": 1, "_dlt_id": "x", "_dlt_list_idx": 0, "name": "a"}
    rename_reserved(record)
    assert record == {"id": 1, "name": "a", "_source_dlt_id": "x", "_source_dlt_list_idx": 0}


@pytest.mark.parametrize(
    ("initial", "lookback", "lag"),
    [
        ("2024-01-01T00:00:00Z", 3600, 3600.0),
        ("2024-01-01", 3600, 1.0),
        ("2024-01-01", 90000, 2.0),
        (0, 5, 5.0),
        (0, None, None),
    ],
)
def test_lag_of(initial: object, lookback: int | None, lag: float | None) -> None:
    assert lag_of(Incremental(cursor="c", initial_value=initial, lookback=lookback)) == lag
