"""REST record keys that collide after dlt's name normalization are refused, not merged."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from dlt.common.schema import Schema

from extract.errors import ExtractError
from extract.manifest.typing import Model
from extract.rest.keys import KeyCheck


def _check(records: list[Any], **model: Any) -> KeyCheck:
    keys = KeyCheck("api", Model.model_validate({"name": "items", **model}), Schema("api"))
    keys.check(records)
    return keys


# (records, expected error fragment)
COLLISIONS = [
    ([{"id": 1, "E-mail": "a", "e_mail": "b"}], "keys 'E-mail' and 'e_mail' both become column"),
    ([{"id": 1, "名前": "n", "😀": "e"}], "keys '名前' and '😀' both become column 'x'"),
    ([{"a": {"b": 1}, "a__b": 2}], "both become column 'a__b'"),
    ([{"id": 1, "lines": [{"sku": 1}, {"SKU": 2, "sku": 3}]}], "in 'lines' records"),
    ([{"id": 1, "Tags": [1], "tags": [2]}], "both become child table 'tags'"),
    ([{"id": 1, "a": {"Tags": [1], "tags": [2]}}], "child table 'a__tags'"),
    ([{"id": 1, "": 1, "_empty": 2}], "column '_empty'"),
    ([{"id": 1}, {"id": 2, "ID": 3}], "keys 'id' and 'ID'"),  # a later record's new key set
    ([{"id": 1, "x": [[{"k": 1, "K": 2}]]}], "in 'x' records"),  # list of lists of objects
]

ACCEPTED = [
    ([{"id": 1, "email": "a", "e_mail": "b", "名前": "n"}], {}),
    ([{"id": 1, "a": {"b": 1}, "a_b": 2}], {}),
    ([{"id": 1, "tags": [1, 2], "tag": "x"}], {}),
    ([{"id": 1, "E-mail": "a", "e_mail": "b"}], {"columns": {"E-mail": {"pii": "drop"}}}),
    (
        [{"id": 1, "payload": {"E-mail": 1, "e_mail": 2}}],
        {"columns": {"payload": {"type": "json"}}},
    ),
    ([[1, 2], "scalar", None], {}),  # non-objects are dlt's business
]


@pytest.mark.parametrize(("records", "message"), COLLISIONS)
def test_colliding_keys_are_refused_naming_source_model_and_keys(
    records: list[Any], message: str
) -> None:
    with pytest.raises(ExtractError) as info:
        _check(records)
    assert "REST source 'api' model 'items'" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(("records", "model"), ACCEPTED)
def test_distinct_keys_pass_and_records_are_not_changed(
    records: list[Any], model: dict[str, Any]
) -> None:
    before = copy.deepcopy(records)
    _check(records, **model)
    assert records == before


def test_each_key_shape_is_normalized_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    validate = KeyCheck._validate

    def counting(self: KeyCheck, record: dict[str, Any], table: tuple[str, ...]) -> Any:
        calls.append(table)
        return validate(self, record, table)

    monkeypatch.setattr(KeyCheck, "_validate", counting)
    flat = [{"id": i, "name": "n"} for i in range(500)]
    nested = [{"id": i, "lines": [{"sku": i}, {"sku": i, "qty": 1}]} for i in range(500)]
    keys = _check(flat)
    keys.check(flat + nested)
    assert sorted(calls) == [(), (), ("lines",), ("lines",)]


def test_child_records_found_after_a_record_with_an_empty_list() -> None:
    with pytest.raises(ExtractError, match="in 'lines' records"):
        _check([{"id": 1, "lines": []}, {"id": 2, "lines": [{"a": 1, "A": 2}]}])
