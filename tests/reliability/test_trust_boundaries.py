"""Trust boundaries (1): credentials stay with their origin, passwords stay masked in every
URL form, hostile values stay data.

Real servers on loopback (two pytest-httpserver instances on different ports: two origins),
real PostgreSQL, MariaDB and DuckDB. The runs (Prefect states, pseudonyms, a newcomer's
commands) are in ``test_trust_runs.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from extract.load import extract_source
from extract.warehouse import resolve
from tests.reliability.helpers import source_from
from tests.reliability.trust_helpers import SQLITE_SOURCE, closed_port, sqlite_table

TOKEN = "trust-bearer-5c1d9e07a4"
KEY = "trust-apikey-8b2f61c3d0"


@pytest.fixture
def foreign() -> Iterator[HTTPServer]:
    """A second loopback server (another port: another origin) that records what it gets."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def _headers_seen(server: HTTPServer) -> list[dict[str, str]]:
    return [dict(request.headers) for request, _ in server.log]


def _rest(base_url: str, auth: str, paginator: str) -> str:
    return (
        f"kind: rest\nclient:\n  base_url: {base_url}\n  auth: {auth}\n"
        f"  retry: {{max_attempts: 1}}\n  paginator: {paginator}\n"
        "models:\n  items: {primary_key: id, endpoint: {path: /items, data_selector: data}}\n"
    )


BEARER = '{type: bearer, token: "${TRUST_TOKEN}"ON_FOREIGN}'
API_KEY = '{type: api_key, name: X-Api-Key, api_key: "${TRUST_KEY}"ON_FOREIGN}'
NEXT = "{type: json_link, next_url_path: next}"


@pytest.mark.parametrize("on_foreign", ["fail", "omit_credentials"])
@pytest.mark.parametrize("how", ["next link", "Link header", "redirect"])
def test_credentials_never_reach_another_origin(
    how: str,
    on_foreign: str,
    httpserver: HTTPServer,
    foreign: HTTPServer,
    manifests_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    monkeypatch.setenv("TRUST_TOKEN", TOKEN)
    monkeypatch.setenv("TRUST_KEY", KEY)
    elsewhere = foreign.url_for("/items?page=2")
    foreign.expect_request("/items").respond_with_json({"data": [{"id": 3}], "next": None})
    first = {"data": [{"id": 1}, {"id": 2}], "next": None}
    if how == "next link":
        first["next"] = elsewhere
        httpserver.expect_request("/items").respond_with_json(first)
        auth, paginator = BEARER, NEXT
    elif how == "Link header":
        headers = {"Link": f'<{elsewhere}>; rel="next"'}
        httpserver.expect_request("/items").respond_with_json(first, headers=headers)
        auth, paginator = BEARER, "header_link"
    else:
        redirect = Response(status=302, headers={"Location": elsewhere})
        httpserver.expect_request("/items").respond_with_response(redirect)
        auth, paginator = API_KEY, "single_page"  # a custom header requests would keep
    extra = "" if on_foreign == "fail" else ", on_foreign_origin: omit_credentials"
    auth = auth.replace("ON_FOREIGN", extra)
    source = source_from(manifests_dir, "api", _rest(httpserver.url_for("/"), auth, paginator))
    (result,) = extract_source(source, resolve())
    seen = _headers_seen(foreign)
    leaked = sum(TOKEN in str(h) or KEY in str(h) for h in seen)
    reliability.record(
        case=f"{how} to another origin (auth.on_foreign_origin: {on_foreign})",
        injected=f"a {how} from 127.0.0.1:{httpserver.port} to 127.0.0.1:{foreign.port}",
        expected="no credentials sent there; fail naming the origin, or follow without them",
        survived=int(leaked == 0),
        secrets_leaked=leaked,
    )
    assert leaked == 0, seen
    if on_foreign == "fail":
        assert result.status == "failed"
        assert f"http://127.0.0.1:{foreign.port}" in str(result.error)
        assert "on_foreign_origin" in str(result.error)
        assert seen == []  # nothing at all was sent to the foreign origin
    else:
        assert (result.status, result.rows) == ("ok", 3 if how != "redirect" else 1)
        assert len(seen) == 1
        assert "Authorization" not in seen[0]
        assert "X-Api-Key" not in seen[0]
    first_hit = dict(httpserver.log[0][0].headers)
    assert first_hit.get("Authorization") == f"Bearer {TOKEN}" or first_hit.get("X-Api-Key") == KEY


def test_a_credential_header_stays_with_its_origin(
    httpserver: HTTPServer,
    foreign: HTTPServer,
    manifests_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    """A key in ``client.headers`` (no auth block) is a credential like ``auth``'s: sent only
    to base_url's origin, masked in messages, and refused when written literally."""
    from extract.errors import ConfigError
    from extract.secrets import redact

    monkeypatch.setenv("TRUST_KEY", KEY)
    elsewhere = foreign.url_for("/items?page=2")
    foreign.expect_request("/items").respond_with_json({"data": [{"id": 3}], "next": None})
    first = {"data": [{"id": 1}, {"id": 2}], "next": elsewhere}
    httpserver.expect_request("/items").respond_with_json(first)
    client = 'headers: {Ocp-Apim-Subscription-Key: "${TRUST_KEY}", Accept: application/json}'
    text = _rest(httpserver.url_for("/"), "", NEXT).replace("  auth: \n", f"  {client}\n")
    source = source_from(manifests_dir, "api", text)
    (result,) = extract_source(source, resolve())
    seen = _headers_seen(foreign)
    leaked = sum(KEY in str(h) for h in seen) + (KEY in redact(f"got {KEY}"))
    reliability.record(
        case="a key in client.headers and a next link to another origin",
        injected=f"a next link from 127.0.0.1:{httpserver.port} to 127.0.0.1:{foreign.port}",
        expected="the header is not sent there; the model fails naming the origin; masked",
        survived=int(leaked == 0 and result.status == "failed"),
        secrets_leaked=leaked,
    )
    assert seen == []
    assert result.status == "failed"
    assert f"http://127.0.0.1:{foreign.port}" in str(result.error)
    first_hit = dict(httpserver.log[0][0].headers)
    assert (first_hit.get("Ocp-Apim-Subscription-Key"), first_hit.get("Accept")) == (
        KEY,
        "application/json",
    )
    assert redact(f"got {KEY}") == "got ***"
    with pytest.raises(ConfigError, match=r"client\.headers\.X-Api-Key: .*\$\{ENV_VAR\}"):
        source_from(manifests_dir, "lit", text.replace(client, "headers: {X-Api-Key: abc123}"))


URL_FORMS = [
    ("'/' in the password", "postgresql://loader:{pw}@db.example:5432/dwh", "pa/ss-{n}"),
    ("'@' in the password", "postgresql://loader:{pw}@db.example:5432/dwh", "p@ss-{n}"),
    ("'/' and '@'", "mysql+pymysql://root:{pw}@db.example:3306/erp", "a/b@c-{n}"),
    ("percent-encoded", "postgresql://loader:{pw}@db.example/dwh", "p%2Fw%40rd-{n}"),
    ("?password= query parameter", "postgresql://loader@db.example/dwh?password={pw}", "q-{n}"),
    ("libpq DSN string", "host=db.example port=5432 user=loader password={pw}", "dsn-{n}"),
    ("quoted DSN value", "host=db.example password='{pw}' user=loader", "s p a c e-{n}"),
]


@pytest.mark.parametrize(("form", "url", "password"), URL_FORMS, ids=[f[0] for f in URL_FORMS])
def test_password_masked_in_every_url_form(
    form: str, url: str, password: str, reliability: Any
) -> None:
    from urllib.parse import unquote

    from extract.secrets import redact, url_password

    password = password.format(n=len(form))
    text = f"connection to {url.format(pw=password)} failed"
    shown = redact(text)
    pieces = [p for p in {password, unquote(password)} if p]
    leaked = sum(p in shown for p in pieces) + sum(
        part in shown for part in unquote(password).replace("@", "/").split("/") if len(part) > 2
    )
    reliability.record(
        case=f"password in a URL: {form}",
        injected=f"redact() of an error quoting {url.format(pw='<password>')}",
        expected="the password, and no piece of it, shown; host kept",
        survived=int(leaked == 0),
        secrets_leaked=leaked,
    )
    assert leaked == 0, shown
    assert "db.example" in shown
    assert url_password(url.format(pw=password)) in (
        password,
        password.strip("'"),
    )


@pytest.mark.postgres
def test_warehouse_password_with_slash_and_at_loads_and_stays_masked(
    tmp_path: Path, manifests_dir: Path, pg_database: str, reliability: Any
) -> None:
    """PostgreSQL on loopback trusts any password: '/' and '@' in it must not split the URL."""
    from tests.helpers import query

    password = "tr/ust@pw-61c0"
    url = pg_database.replace("postgres@", f"postgres:{password}@")
    source = source_from(manifests_dir, "small", SQLITE_SOURCE.format(db=sqlite_table(tmp_path)))
    (ok,) = extract_source(source, resolve(url))
    dead = url.replace(":5432/", f":{closed_port()}/")
    (failed,) = extract_source(source, resolve(dead))
    texts = [str(ok.error), str(failed.error), repr(resolve(url)), str(resolve(dead))]
    leaked = sum(piece in t for t in texts for piece in (password, "ust@pw", "tr/"))
    reliability.record(
        case="warehouse password with '/' and '@' (PostgreSQL)",
        injected="--warehouse postgresql://postgres:tr/ust@pw-61c0@127.0.0.1:5432/db, then "
        "the same URL on a closed port",
        expected="loads; the failure names host and port; the password never shown",
        survived=int(ok.status == "ok" and leaked == 0),
        secrets_leaked=leaked,
    )
    assert (ok.status, ok.rows) == ("ok", 3), ok.error
    assert query(pg_database, "select count(*) from small.t") == [(3,)]
    assert failed.status == "failed"
    assert "127.0.0.1" in str(failed.error)
    assert dead.split("@")[-1].split("/")[0].split(":")[1] in str(failed.error)
    assert leaked == 0, texts


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["MariaDB source", "PostgreSQL source", "REST source"])
def test_connection_errors_name_host_and_port(
    kind: str, manifests_dir: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    port = closed_port()
    password = "conn-pw-7e21/x"
    monkeypatch.setenv("DEAD_PW", password)
    if kind == "MariaDB source":
        text = f"kind: sql\nconnection: {{url: 'mysql+pymysql://root:${{DEAD_PW}}@127.0.0.1:{port}/test'}}\n"
    elif kind == "PostgreSQL source":
        text = f"kind: sql\nconnection: {{url: 'postgresql://postgres:${{DEAD_PW}}@127.0.0.1:{port}/x'}}\n"
    else:
        text = (
            f"kind: rest\nclient:\n  base_url: http://127.0.0.1:{port}/\n"
            '  auth: {type: basic, username: u, password: "${DEAD_PW}"}\n'
            "  retry: {max_attempts: 1}\n  paginator: single_page\n"
        )
    source = source_from(manifests_dir, "dead", text + "models:\n  t: {primary_key: id}\n")
    (result,) = extract_source(source, resolve())
    error = str(result.error)
    named = f"127.0.0.1:{port}" in error or ("127.0.0.1" in error and f"port {port}" in error)
    leaked = int(password in error or "7e21" in error)
    reliability.record(
        case=f"connection refused: {kind}",
        injected=f"the source's port 127.0.0.1:{port} is closed",
        expected="the error names host and port, never the password",
        survived=int(named and not leaked),
        secrets_leaked=leaked,
    )
    assert result.status == "failed", error
    assert named, error
    assert not leaked, error


def test_masking_is_exact_for_a_one_letter_password(
    manifests_dir: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    from extract.secrets import redact

    monkeypatch.setenv("ONE_LETTER", "e")
    source_from(
        manifests_dir,
        "short",
        "kind: rest\nclient:\n  base_url: http://127.0.0.1:9/\n"
        '  auth: {type: basic, username: u, password: "${ONE_LETTER}"}\n'
        "  paginator: single_page\nmodels:\n  t: {primary_key: id}\n",
    )
    message = 'database "sales" does not exist; login u/e refused; password=e'
    shown = redact(message)
    garbled = int("does not exist" not in shown or "sales" not in shown)
    leaked = int("/e " in shown or shown.endswith("=e"))
    reliability.record(
        case="one-letter password",
        injected="password 'e'; an error quoting it next to ordinary words",
        expected="the password masked where it stands alone, the words intact",
        survived=int(not garbled and not leaked),
        secrets_leaked=leaked,
    )
    assert shown == 'database "sales" does not exist; login u/*** refused; password=***'


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://loader@db:5432/dwh?password=literal-pw",
        "postgresql://loader@db:5432/dwh?sslmode=require&password=literal-pw",
        "host=db user=loader password=literal-pw",
        "postgresql://loader:lit/er@l@db:5432/dwh",
    ],
)
def test_validate_refuses_a_literal_password_in_any_url_form(
    url: str, manifests_dir: Path, reliability: Any
) -> None:
    from extract.errors import ConfigError

    text = f"kind: sql\nconnection:\n  url: '{url}'\nmodels:\n  t: {{primary_key: id}}\n"
    with pytest.raises(ConfigError) as info:
        source_from(manifests_dir, "lit", text)
    message = str(info.value)
    reliability.record(
        case="literal password in a manifest URL",
        injected=url.replace("literal-pw", "<literal>"),
        expected="validate refuses it like any other literal secret, not echoing it",
        survived=int("${ENV_VAR}" in message),
        secrets_leaked=int("literal-pw" in message or "er@l" in message),
    )
    assert "lit.yml:3 connection.url: a password in a URL must be a ${ENV_VAR}" in message
    assert "literal-pw" not in message
    assert "er@l" not in message


HOSTILE_CELLS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
INERT_CELLS = ["plain", "-5", "+3.25", "a=b", ""]


def _csv_cells(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def test_extract_to_csv_neutralises_formulas_and_json_stays_exact(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    import json
    import sqlite3

    db = tmp_path / "hostile.sqlite"
    values = HOSTILE_CELLS + INERT_CELLS
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (id integer primary key, note text)")
        conn.executemany("insert into t values (?, ?)", list(enumerate(values)))
    source = source_from(manifests_dir, "hostile", SQLITE_SOURCE.format(db=db))
    outputs = {}
    for to in ("csv", "json"):
        (result,) = extract_source(source, resolve(to=to, out=tmp_path / to))
        assert result.status == "ok", result.error
        (outputs[to],) = [
            p
            for p in (tmp_path / to).rglob(f"*.{'jsonl' if to == 'json' else to}")
            if "/t/" in str(p)
        ]
    cells = _csv_cells(outputs["csv"])
    live = [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r")) and c not in INERT_CELLS]
    live += [c for c in cells if c.startswith("-") and c not in INERT_CELLS]
    notes = [json.loads(line)["note"] for line in outputs["json"].read_text().splitlines()]
    reliability.record(
        case="`extract --to csv` with formula-leading text",
        injected="text cells starting with = + - @ tab CR (and -5, +3.25, a=b as controls)",
        expected="CSV cells prefixed with ' (OWASP); numbers untouched; JSON exact",
        faults=len(HOSTILE_CELLS),
        survived=len(HOSTILE_CELLS) - len(live),
    )
    assert live == [], live
    for value in HOSTILE_CELLS:
        assert "'" + value in cells
    assert {"-5", "+3.25", "a=b"} <= set(cells)
    assert sorted(notes, key=str) == sorted(values, key=str)


@pytest.mark.postgres
def test_csv_load_files_into_postgres_stay_exact(
    tmp_path: Path, manifests_dir: Path, pg_database: str, reliability: Any
) -> None:
    import sqlite3

    from tests.helpers import query

    db = tmp_path / "hostile.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (id integer primary key, note text)")
        conn.executemany("insert into t values (?, ?)", list(enumerate(HOSTILE_CELLS)))
    source = source_from(manifests_dir, "hostile", SQLITE_SOURCE.format(db=db))
    (result,) = extract_source(source, resolve(pg_database))
    stored = [r[0] for r in query(pg_database, "select note from hostile.t order by id")]
    reliability.record(
        case="formula-leading text loaded into PostgreSQL (CSV load files)",
        injected="the same hostile cells, loaded by COPY",
        expected="stored exactly as the source has them",
        faults=len(HOSTILE_CELLS),
        survived=sum(a == b for a, b in zip(stored, HOSTILE_CELLS, strict=False)),
    )
    assert result.status == "ok"
    assert stored == HOSTILE_CELLS


TEAM_REPORT = """\
description: records of one team
database: cloud
collection: vms
params:
  team: {type: string}
stages:
  - $match:
      $expr: {$eq: ["$tags.owner_team", "{{ team }}"]}
  - $project: {_id: 0, name: 1, team: "{{ team }}", note: 1}
outputs:
  - {format: json}
  - {format: csv}
"""


def test_aggregation_param_is_a_literal_and_csv_output_is_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    import json

    from extract import mongo
    from transform.aggregate import run_pipeline

    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "team_report.yml").write_text(TEAM_REPORT)
    monkeypatch.setenv("KSPYDER_MONGO_PIPELINES", str(folder))
    docs = [
        {
            "name": f"vm{i}",
            "tags": {"owner_team": ["$tags.owner_team", "web", "=cmd|calc"][i % 3]},
            "note": "=1+2" if i % 2 else "ok",
        }
        for i in range(30)
    ]
    mongo.insert("cloud", "vms", docs)
    outputs = run_pipeline("team_report", {"team": "$tags.owner_team"})
    rows = json.loads(Path(outputs[0]).read_text())
    matched = len(rows)
    cells = _csv_cells(Path(outputs[1]))
    reliability.record(
        case="aggregation --param starting with '$'",
        injected="--param 'team=$tags.owner_team' (a field path if substituted as is)",
        expected="compared as text: only the 10 documents whose team is that text",
        survived=int(matched == 10),
        notes=f"{matched} of 30 documents matched",
    )
    assert matched == 10
    assert {r["team"] for r in rows} == {"$tags.owner_team"}
    assert "=1+2" in {r["note"] for r in rows}  # JSON exact
    assert "'=1+2" in cells
    assert "=1+2" not in cells


def _nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"a": doc}
    return doc


@pytest.mark.parametrize("target", ["duckdb", "postgres", "documents"])
def test_deeply_nested_json_fails_the_model_naming_path_and_limit(
    target: str, httpserver: HTTPServer, manifests_dir: Path, reliability: Any, request: Any
) -> None:
    records = [{"id": 1, "meta": _nested(200)}, {"id": 2, "meta": {"ok": True}}]
    httpserver.expect_request("/items").respond_with_json({"data": records})
    text = (
        f"kind: rest\nclient: {{base_url: '{httpserver.url_for('/')}', paginator: single_page}}\n"
        "models:\n  items: {primary_key: id, endpoint: {path: /items, data_selector: data}}\n"
    )
    if target == "documents":
        text = "target: documents\n" + text
    source = source_from(manifests_dir, "deep", text)
    if target == "documents":
        from extract.documents import load_documents

        (result,) = load_documents(source, None, False)
    else:
        url = request.getfixturevalue("pg_database") if target == "postgres" else None
        (result,) = extract_source(source, resolve(url))
    error = str(result.error)
    clear = "meta.a.a" in error and "depth" in error and "Recursion limit" not in error
    reliability.record(
        case="JSON nested 200 levels deep",
        injected="a REST record whose 'meta' field nests 200 objects",
        expected="the model fails naming the field path and the depth limit (100, MongoDB's)",
        survived=int(result.status == "failed" and clear),
    )
    assert result.status == "failed", result
    assert clear, error
