"""Hostile YAML and files: unsafe tags, duplicate keys, complex keys, bytes, alias bombs.

What a generator of valid YAML cannot produce; each must end in a ``ConfigError`` naming the
file and the line, before anything is constructed or run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from extract.errors import ConfigError, Problem
from extract.manifest import yamlpos
from extract.manifest.loader import load_manifests, parse_source
from tests.reliability.config_cases import REST, outcome, well_formed, write_tree
from transform.aggregate import parse_pipeline


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REL_TOKEN", "rel-token-value-1234")


HOSTILE_YAML = [
    (
        "python/object/apply tag",
        "kind: sql\nconnection: {url: 'sqlite://'}\nmodels:\n"
        "  orders:\n    table: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
        5,
    ),
    (
        "python/name tag as a key",
        "kind: sql\nconnection: {url: 'sqlite://'}\nmodels:\n  !!python/name:os.system : {}\n",
        4,
    ),
    ("python/module tag", "kind: !!python/module:os\nmodels: [a]\n", 1),
    (
        "duplicate model",
        "kind: sql\nconnection: {url: 'sqlite://'}\nmodels:\n  a: {}\n  a: {table: x}\n",
        5,
    ),
    ("duplicate top-level key", "kind: sql\nkind: rest\nmodels: [a]\n", 2),
    ("merge key on a scalar", "kind: sql\nmodels:\n  a:\n    <<: 5\n", 4),
    ("unclosed flow mapping", "kind: sql\nmodels: {a: [\n", 3),
    ("tab indentation", "kind: sql\nmodels:\n\ta: {}\n", 3),
]


@pytest.mark.parametrize(("name", "text", "line"), HOSTILE_YAML, ids=[h[0] for h in HOSTILE_YAML])
def test_hostile_yaml_is_refused_with_file_and_line(
    name: str, text: str, line: int, tmp_path: Path, reliability: Any
) -> None:
    path = tmp_path / "src.yml"
    path.write_text(text)
    exc = outcome(parse_source, path)
    reliability.record(
        case=f"hostile YAML: {name}",
        injected=f"manifest containing a {name}",
        expected="ConfigError naming file:line; nothing constructed",
        faults=1,
        survived=int(exc is not None and f"{path}:{line}" in str(exc)),
    )
    assert exc is not None
    assert f"{path}:{line}" in str(exc)
    assert not Path("/tmp/pwned").exists()


def test_duplicate_source_across_files_names_both(tmp_path: Path) -> None:
    text = "name: a\nkind: sql\nconnection: {url: 'sqlite://'}\nmodels: [x]\n"
    (tmp_path / "a.yml").write_text(text)
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_manifests(tmp_path)
    assert any(p.key_path == "name" and p.line >= 1 for p in info.value.problems), str(info.value)


HOSTILE_BYTES = [
    pytest.param(
        "complex (sequence) key",
        b"kind: sql\nconnection: {url: 'sqlite://'}\nmodels:\n  ? [a, b]\n  : {}\n",
        parse_source,
        id="manifest: complex key",
    ),
    pytest.param(
        "complex (sequence) key",
        b"description: d\ndatabase: db\ncollection: c\nstages:\n  - ? [a]\n    : 1\n",
        parse_pipeline,
        id="pipeline: complex key",
    ),
    pytest.param(
        "bytes that are not UTF-8",
        b"kind: sql\nconnection: {url: 'sqlite://'}\nmodels: [\xff\xfe]\n",
        parse_source,
        id="manifest: invalid UTF-8",
    ),
    pytest.param(
        "params: 5 with a placeholder",
        b"description: d\ndatabase: db\ncollection: c\nparams: 5\n"
        b"stages:\n  - $match: {a: '{{ x }}'}\n",
        parse_pipeline,
        id="pipeline: params is a number",
    ),
    pytest.param(
        "NUL character",
        b"kind: sql\x00\nmodels: [a]\n",
        parse_source,
        id="manifest: NUL byte",
    ),
]


@pytest.mark.parametrize(("name", "data", "parse"), HOSTILE_BYTES)
def test_hostile_bytes_give_a_config_error_with_a_line(
    name: str, data: bytes, parse: Callable[[Path], Any], tmp_path: Path, reliability: Any
) -> None:
    path = tmp_path / "x.yml"
    path.write_bytes(data)
    try:
        exc = outcome(parse, path)
    except Exception as other:
        reliability.record(
            case=f"hostile file: {name} ({parse.__name__})",
            injected=name,
            expected="ConfigError naming file:line",
            survived=0,
            notes=f"raised {type(other).__name__}",
        )
        raise
    reliability.record(
        case=f"hostile file: {name} ({parse.__name__})",
        injected=name,
        expected="ConfigError naming file:line",
        survived=int(exc is not None and not well_formed(exc, path)),
        notes=str(exc)[:120],
    )
    assert exc is not None
    assert well_formed(exc, path) == []


def test_non_string_model_name_in_a_bare_list_is_an_error(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "src.yml"
    path.write_text("kind: sql\nconnection: {url: 'sqlite://'}\nmodels: [1.5, orders]\n")
    exc = outcome(parse_source, path)
    reliability.record(
        case="hostile manifest: a float in a bare list of models",
        injected="models: [1.5, orders]",
        expected="ConfigError at models.0",
        survived=int(exc is not None),
        notes="accepted; model 1.5 dropped silently" if exc is None else str(exc)[:120],
    )
    assert exc is not None


def test_missing_connection_names_its_key(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "src.yml"
    path.write_text("kind: sql\nmodels: [orders]\n")
    exc = outcome(parse_source, path)
    named = exc is not None and any(p.key_path == "connection" for p in exc.problems)
    reliability.record(
        case="hostile manifest: kind sql without connection",
        injected="`kind: sql` and no `connection` block",
        expected="ConfigError naming file:line and the key `connection`",
        survived=int(named),
        notes=str(exc)[:120],
    )
    assert named, str(exc)


def _alias_bomb(levels: int) -> str:
    lines = ["kind: sql", "connection: {url: 'sqlite://'}", "models: [orders]"]
    lines.append("description: &x0 [a, a, a, a, a, a, a, a, a, a]")
    for i in range(1, levels):
        lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_work_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    """Count ``_walk`` calls on a 4-level bomb (10**4 paths) instead of timing a big one."""
    path = tmp_path / "bomb.yml"
    path.write_text(_alias_bomb(4))
    calls = 0
    real = yamlpos._walk

    def counting(*args: Any) -> None:
        nonlocal calls
        calls += 1
        real(*args)

    monkeypatch.setattr(yamlpos, "_walk", counting)
    exc = outcome(parse_source, path)
    nodes = 10 + 10 * 4 + 12  # scalars, alias entries and mappings of the file, roughly
    reliability.record(
        case="hostile YAML: alias bomb (billion laughs)",
        injected="4 levels of 10 aliases in a 7-line manifest",
        expected="work bounded by the file size; ConfigError (unknown keys)",
        survived=int(calls <= 10 * nodes),
        notes=f"{calls} key paths walked for ~{nodes} YAML nodes",
    )
    assert exc is not None
    assert calls <= 10 * nodes, f"{calls} walks for a file of ~{nodes} nodes"


def test_loading_never_mutates_the_tree(tmp_path: Path, env: None) -> None:
    """The loader copies before expanding (short forms, defaults, ${ENV})."""
    before = copy.deepcopy(REST)
    parse_source(write_tree(tmp_path, "rest", REST))
    assert before == REST


def test_problem_text_shape() -> None:
    assert str(Problem("m/x.yml", 3, "models.a", "bad")) == "m/x.yml:3 models.a: bad"
