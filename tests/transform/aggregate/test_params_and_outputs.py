"""Parameter coercion, placeholder rendering and output flattening."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extract.errors import KspyderError
from transform.aggregate.model import Param
from transform.aggregate.outputs import flat_table, flatten
from transform.aggregate.params import coerce, placeholders, render
from transform.aggregate.tables import sql_type


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("string", "eu", "eu"),
        ("int", "42", 42),
        ("int", 7, 7),
        ("float", "2.5", 2.5),
        ("float", 3, 3.0),
        ("bool", "Yes", True),
        ("bool", "off", False),
        ("bool", False, False),
        ("date", "2025-11-01", "2025-11-01"),
        ("date", dt.date(2025, 11, 1), "2025-11-01"),
        ("string", None, None),
    ],
)
def test_coerce(kind: str, value: Any, expected: Any) -> None:
    got = coerce(Param.model_validate({"type": kind}), value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("int", "4.5", "expected an int, got '4.5'"),
        ("int", True, "expected an int, got True"),
        ("float", "abc", "expected a float"),
        ("bool", "maybe", "expected a bool"),
        ("date", "2025-11-01T10:00:00", "expected a date"),
        ("date", dt.datetime(2025, 1, 1), "expected a date"),
        ("string", 5, "expected a string"),
    ],
)
def test_coerce_refuses(kind: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        coerce(Param.model_validate({"type": kind}), value)


def test_render_exact_and_embedded_placeholders() -> None:
    stages = [
        {"$match": {"n": "{{ n }}", "flag": "{{flag}}", "none": "{{ gone }}"}},
        {"$project": {"f": "$options.{{ opt }}", "t": "{{ flag }}-{{ n }}", "{{ n }}": 1}},
    ]
    values = {"n": 3, "flag": True, "gone": None, "opt": "patch_mode"}
    assert render(stages, values) == [
        {"$match": {"n": 3, "flag": True, "none": None}},
        {"$project": {"f": "$options.patch_mode", "t": "true-3", "{{ n }}": 1}},
    ]
    found = [(".".join(map(str, p)), n, exact) for p, n, exact in placeholders(stages)]
    assert found[0] == ("0.$match.n", "n", True)
    assert ("1.$project.t", "flag", False) in found
    with pytest.raises(KspyderError, match="'gone' has no value but is used inside a string"):
        render({"a": "x-{{ gone }}"}, values)


def test_flatten_uses_dotted_names_and_json_lists() -> None:
    row = {"a": {"b": {"c": 1}, "d": [1, {"e": None}]}, "f": None, "when": dt.date(2025, 1, 2)}
    assert flatten(row) == {"a.b.c": 1, "a.d": '[1, {"e": null}]', "f": None, "when": row["when"]}
    columns, rows = flat_table([{"x": 1}, {"y": {"z": 2}, "x": 3}])
    assert columns == ["x", "y.z"]
    assert rows[1] == {"y.z": 2, "x": 3}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, None, 2], "bigint"),
        ([1, 2.5], "double precision"),
        ([True, False], "boolean"),
        ([1, "a"], "text"),
        ([None], "text"),
        ([dt.datetime(2025, 1, 1)], "timestamp"),
    ],
)
def test_sql_type(values: list[Any], expected: str) -> None:
    assert sql_type(values) == expected


json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
documents = st.recursive(
    st.dictionaries(st.text("abc", min_size=1, max_size=3), json_leaf, max_size=4),
    lambda inner: st.dictionaries(
        st.text("abc", min_size=1, max_size=3), inner | st.lists(json_leaf, max_size=3), max_size=4
    ),
    max_leaves=20,
)


def _leaves(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list) else value
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_flatten_keeps_every_leaf(doc: dict[str, Any]) -> None:
    flat = flatten(doc)
    assert flat == _leaves(doc)
    assert not any(isinstance(v, dict | list) for v in flat.values())
