"""Manifest validation as data: (manifest text, expected error) cases, one parametrized test."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from extract.errors import ConfigError
from extract.manifest.loader import load_manifests, parse_source
from extract.secrets import redact
from tests.helpers import write_manifest

GOOD = """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  customers:
    primary_key: id
    write_disposition: merge
    columns:
      iban: drop
  orders: null
"""

INVALID: list[tuple[str, str, str]] = [
    (
        "bad_disposition",
        """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  invoices:
    primary_key: id
    write_disposition: upsert
""",
        "bad_disposition.yml:7 models.invoices.write_disposition: Invalid write_disposition: "
        "'upsert'. Available options: append, replace, merge",
    ),
    (
        "merge_no_key",
        """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  invoices:
    write_disposition: merge
""",
        "merge_no_key.yml:5 models.invoices: write_disposition 'merge' needs a primary_key",
    ),
    (
        "unknown_key",
        """\
kind: sql
connection:
  url: sqlite:///x.db
  chunksize: 10
models:
  a: {}
""",
        "unknown_key.yml:4 connection.chunksize: unknown key 'chunksize' (allowed: backend, "
        "chunk_size, schema_name, url)",
    ),
    (
        "unsafe_model",
        """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  'x"; drop schema erp cascade; --': {}
""",
        'unsafe_model.yml:5 models.x"; drop schema erp cascade; --: \'x"; drop schema erp '
        "cascade; --' is not a safe SQL identifier",
    ),
    (
        "python_tag",
        """\
kind: sql
connection:
  url: !!python/object/apply:os.system ["echo pwned"]
models:
  a: {}
""",
        "python_tag.yml:3: unsafe or unknown YAML tag refused",
    ),
    (
        "syntax",
        "kind: sql\nmodels:\n  a: [1, 2\n",
        "syntax.yml:4: YAML syntax error",
    ),
    (
        "dup_model",
        """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  a: {}
  a: {}
""",
        "dup_model.yml:6 models.a: duplicate key 'a' (first at line 5)",
    ),
    (
        "bad_pii",
        """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  a:
    columns:
      email: encrypt
""",
        "bad_pii.yml:7 models.a.columns.email.pii: Invalid pii: 'encrypt'. Available options: "
        "drop, hash, mask, redact, keep",
    ),
    (
        "literal_password",
        """\
kind: sql
connection:
  url: postgresql://u:hunter2secret@db/x
models:
  a: {}
""",
        "literal_password.yml:3 connection.url: a password in a URL must be a ${ENV_VAR} reference",
    ),
    (
        "missing_env",
        """\
kind: sql
connection:
  url: postgresql://u:${KSPYDER_TEST_UNSET_PASSWORD}@db/x
models:
  a: {}
""",
        "missing_env.yml:3 connection.url: environment variable KSPYDER_TEST_UNSET_PASSWORD "
        "is not set",
    ),
    (
        "wrong_type",
        """\
kind: sql
connection:
  url: sqlite:///x.db
  chunk_size: lots
models:
  a: {}
""",
        "wrong_type.yml:4 connection.chunk_size: Input should be a valid integer",
    ),
    (
        "bad_kind",
        """\
kind: ftp
models:
  a: {}
""",
        "bad_kind.yml:1 kind: Invalid kind: 'ftp'. Available options: sql, rest",
    ),
    (
        "name_mismatch",
        """\
name: other
kind: sql
connection:
  url: sqlite:///x.db
models:
  a: {}
""",
        "name_mismatch.yml:1 name: 'other' must match the file name 'name_mismatch'",
    ),
    (
        "table_and_query",
        """\
kind: sql
connection:
  url: sqlite:///x.db
models:
  a:
    table: a
    query: select 1
""",
        "table_and_query.yml:5 models.a: give either table or query, not both",
    ),
    (
        "no_connection",
        "description: d\nkind: sql\nmodels: [a]\n",
        "no_connection.yml:2 connection: kind 'sql' needs a connection",
    ),
    (
        "no_client",
        "kind: rest\nmodels: [a]\n",
        "no_client.yml:1 client: kind 'rest' needs a client",
    ),
    (
        "float_model_name",
        "kind: sql\nconnection: {url: 'sqlite:///x.db'}\nmodels:\n  - 1.5\n  - a\n",
        "float_model_name.yml:4 models.0: a model name must be a string, got 1.5",
    ),
    (
        "repeated_model_name",
        "kind: sql\nconnection: {url: 'sqlite:///x.db'}\nmodels: [a, a]\n",
        "repeated_model_name.yml:3 models.1: duplicate model 'a' (also models.0)",
    ),
    (
        "complex_key",
        "kind: sql\nconnection: {url: 'sqlite:///x.db'}\nmodels:\n  ? [a, b]\n  : {}\n",
        "complex_key.yml:4 models: a key must be a plain string or number, not a sequence",
    ),
    (
        "nul_byte",
        "kind: sql\nconnection: {url: 'sqlite:///x.db'}\nmodels: [a\x00]\n",
        "nul_byte.yml:3 models.0: unacceptable character #x0000 at column 11",
    ),
    (
        "alias_bomb",  # each b<i> repeats b<i-1> ten times: 10**5 values from 9 lines
        "kind: sql\nconnection: {url: 'sqlite:///x.db'}\nmodels: [a]\n"
        "description: &b0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 6)),
        "alias_bomb.yml:8 b4.7: aliases (*name) expand the file to more than 100000 values",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest(manifests_dir: Path, name: str, text: str, expected: str) -> None:
    path = manifests_dir / f"{name}.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        parse_source(path)
    assert expected in str(info.value)


def test_valid_manifest_expands_short_forms(manifests_dir: Path) -> None:
    source = parse_source(write_manifest(manifests_dir, "erp", GOOD))
    assert source.name == "erp"
    assert source.models["customers"].primary_key == ["id"]
    assert source.models["customers"].columns["iban"].pii == "drop"
    assert source.models["orders"].write_disposition == "append"


def test_defaults_deep_merge(manifests_dir: Path) -> None:
    text = """\
kind: sql
connection: {url: "sqlite:///x.db"}
defaults:
  write_disposition: merge
  primary_key: id
  columns: {email: hash}
models:
  a: {columns: {phone: mask}}
  b: {write_disposition: append, primary_key: code}
"""
    source = parse_source(write_manifest(manifests_dir, "s", text))
    a, b = source.models["a"], source.models["b"]
    assert a.write_disposition == "merge"
    assert a.primary_key == ["id"]
    assert {c: col.pii for c, col in a.columns.items()} == {"email": "hash", "phone": "mask"}
    assert b.write_disposition == "append"
    assert b.primary_key == ["code"]


def test_loading_never_mutates_the_parsed_yaml(manifests_dir: Path) -> None:
    from extract.manifest import loader

    raw = yaml.safe_load(GOOD)
    before = copy.deepcopy(raw)
    loader._expand_short_forms(raw, "erp")
    assert raw == before


def test_duplicate_source_names_across_files(manifests_dir: Path) -> None:
    write_manifest(manifests_dir, "a", GOOD)
    (manifests_dir / "b.yaml").write_text("name: a\n" + GOOD)
    with pytest.raises(ConfigError) as info:
        load_manifests(manifests_dir)
    assert "b.yaml:1 name: 'a' must match the file name 'b'" in str(info.value)


def test_env_reference_secret_is_redacted(
    manifests_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSPYDER_TEST_PG_PASSWORD", "s3ntinel-Passw0rd")
    text = """\
kind: sql
connection:
  url: postgresql://u:${KSPYDER_TEST_PG_PASSWORD}@db/x
  chunk_size: -1
models:
  a: {}
"""
    with pytest.raises(ConfigError) as info:
        parse_source(write_manifest(manifests_dir, "s", text))
    assert "s3ntinel-Passw0rd" not in str(info.value)
    assert "connection.chunk_size" in str(info.value)
    assert redact("x s3ntinel-Passw0rd y") == "x *** y"


def test_env_default_and_nested_reference(
    manifests_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSPYDER_TEST_DIR", "/data")
    text = """\
kind: sql
connection:
  url: ${KSPYDER_TEST_UNSET_URL:-sqlite:///${KSPYDER_TEST_DIR}/erp.sqlite}
models: [a, b]
"""
    source = parse_source(write_manifest(manifests_dir, "s", text))
    assert source.connection is not None
    assert source.connection.url == "sqlite:////data/erp.sqlite"
    assert list(source.models) == ["a", "b"]


def test_unset_reference_is_a_kspyder_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers catch every deliberate error as KspyderError; a missing variable is one too."""
    from extract.errors import KspyderError, MissingEnv
    from extract.manifest.env import expand

    monkeypatch.delenv("KSPYDER_TEST_UNSET", raising=False)
    with pytest.raises(MissingEnv) as info:
        expand("x-${KSPYDER_TEST_UNSET}")
    assert isinstance(info.value, KspyderError)
    assert str(info.value) == "environment variable KSPYDER_TEST_UNSET is not set"
    assert expand("${KSPYDER_TEST_UNSET:-fallback}") == "fallback"


def test_repository_manifests_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    from extract import project

    monkeypatch.setenv("CRM_API_TOKEN", "a-token-for-validation")
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):  # cloud.yml
        monkeypatch.setenv(name, f"a-{name.lower()}-for-validation")
    sources = load_manifests(project.ROOT / "manifests")
    assert set(sources) >= {"erp", "crm", "cloud"}
    monkeypatch.delenv("CRM_API_TOKEN")
    with pytest.raises(ConfigError, match=r"crm.yml:\d+ client.auth.token: environment variable"):
        load_manifests(project.ROOT / "manifests")


def test_committed_json_schema_is_current() -> None:
    from extract import project
    from extract.manifest.schema import schema_text

    assert project.schema_file().read_text() == schema_text(), "run `kspyder schema`"


def test_an_editor_with_the_schema_accepts_the_shipped_manifests_and_refuses_a_bad_key() -> None:
    """The schema knows the short forms the loader expands and each paginator's own keys."""
    import json

    import jsonschema

    from extract import project

    validator = jsonschema.Draft202012Validator(json.loads(project.schema_file().read_text()))
    for path in sorted((project.ROOT / "manifests").glob("*.yml")):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path

    def rest(paginator: object, models: object = ("items",)) -> dict[str, object]:
        client = {"base_url": "http://x", "paginator": paginator}
        return {
            "kind": "rest",
            "client": client,
            "models": models if isinstance(models, dict) else list(models),
        }

    assert validator.is_valid(rest("single_page"))
    assert validator.is_valid(rest({"type": "offset", "limit": 5}))
    assert not validator.is_valid(rest({"type": "cursor", "limit": 5}))
    assert not validator.is_valid(rest({"type": "offset"}))  # limit is required
    assert validator.is_valid(rest({"type": "just_once", "anything": 1}))  # a registered style
    assert not validator.is_valid(rest("auto", {"items": {"columns": {"email": "hide"}}}))
    assert validator.is_valid(rest("auto", {"items": {"columns": {"email": "hash"}}}))
