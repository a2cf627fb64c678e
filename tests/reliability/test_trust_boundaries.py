"""Trust boundaries: credentials stay with their origin, passwords stay masked, pseudonyms stay
stable, hostile values stay inert, and Prefect's states tell the truth.

Real servers on loopback (two pytest-httpserver instances on different ports), real
PostgreSQL and DuckDB warehouses, real dbt and Prefect (one harness for the module).
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
        assert len(seen) == 1 and "Authorization" not in seen[0] and "X-Api-Key" not in seen[0]
    first_hit = dict(httpserver.log[0][0].headers)
    assert first_hit.get("Authorization") == f"Bearer {TOKEN}" or first_hit.get("X-Api-Key") == KEY


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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
    assert "db.example" in shown and url_password(url.format(pw=password)) in (
        password,
        password.strip("'"),
    )


SQLITE_SOURCE = (
    "kind: sql\nconnection: {{url: 'sqlite:///{db}'}}\nmodels:\n  t: {{primary_key: id}}\n"
)


def _sqlite(tmp_path: Path, rows: int = 3) -> Path:
    import sqlite3

    db = tmp_path / "small.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (id integer primary key, name text)")
        conn.executemany("insert into t values (?, ?)", [(i, f"n{i}") for i in range(rows)])
    return db


@pytest.mark.postgres
def test_warehouse_password_with_slash_and_at_loads_and_stays_masked(
    tmp_path: Path, manifests_dir: Path, pg_database: str, reliability: Any
) -> None:
    """PostgreSQL on loopback trusts any password: '/' and '@' in it must not split the URL."""
    from tests.helpers import query

    password = "tr/ust@pw-61c0"
    url = pg_database.replace("postgres@", f"postgres:{password}@")
    source = source_from(manifests_dir, "small", SQLITE_SOURCE.format(db=_sqlite(tmp_path)))
    (ok,) = extract_source(source, resolve(url))
    dead = url.replace(":5432/", f":{_closed_port()}/")
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
    assert failed.status == "failed" and "127.0.0.1" in str(failed.error)
    assert dead.split("@")[-1].split("/")[0].split(":")[1] in str(failed.error)
    assert leaked == 0, texts


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["MariaDB source", "PostgreSQL source", "REST source"])
def test_connection_errors_name_host_and_port(
    kind: str, manifests_dir: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    port = _closed_port()
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
    assert result.status == "failed" and named, error
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
    assert "literal-pw" not in message and "er@l" not in message


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    """One temporary Prefect API for the module (its start-up is the slow part)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _last_flow_run() -> tuple[Any, list[Any]]:
    """The newest flow run and its task runs, read back through Prefect's API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    return run, tasks


REQUIRED_PARAM = """\
description: needs a parameter nobody gives
database: nowhere
collection: things
params:
  team: {type: string}
stages:
  - $match: {team: "{{ team }}"}
"""


@pytest.mark.postgres
def test_a_failed_run_is_a_failed_prefect_state_after_its_summary(
    harness: None,
    tmp_path: Path,
    manifests_dir: Path,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    from flows.cli.run import run_elt
    from tests.helpers import query

    db = _sqlite(tmp_path)
    text = SQLITE_SOURCE.format(db=db) + "  ghosts: {table: no_such_table}\n"
    source_from(manifests_dir, "small", text)
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "needs_team.yml").write_text(REQUIRED_PARAM)
    monkeypatch.setenv("KSPYDER_MONGO_PIPELINES", str(pipelines))
    password = "flow/pw@9d1e-secret"
    url = pg_database.replace("postgres@", f"postgres:{password}@")
    summary = run_elt(None, skip_transform=True, retries=0, warehouse_url=url)
    run, tasks = _last_flow_run()
    states = {t.name: t.state_type.value for t in tasks}
    ledger = query(
        pg_database, "select model, status from kspyder_meta._kspyder_runs order by model"
    )
    in_params = int(password in str(run.parameters) or "9d1e" in str(run.parameters))
    reliability.record(
        case="failed model and aggregation: Prefect state",
        injected="a model on a missing table, an aggregation missing its required parameter",
        expected="flow run FAILED (and the failed tasks), summary artifact and ledger first; "
        "no warehouse password in the flow run's parameters",
        survived=int(run.state_type.value == "FAILED" and len(ledger) == 2),
        secrets_leaked=in_params,
    )
    assert run.state_type.value == "FAILED", run.state
    assert sorted(ledger) == [("ghosts", "failed"), ("t", "ok")]
    assert [f.split(":")[0] for f in summary["failures"]] == [
        "extract small.ghosts",
        "aggregate needs_team",
    ]
    failed_tasks = sorted(name for name, state in states.items() if state == "FAILED")
    assert [n.split("-")[:2] for n in failed_tasks] == [
        ["aggregate", "needs_team"],
        ["extract", "small"],  # the extract unit of ghosts (task names get a short suffix)
    ], states
    assert "ghosts" in failed_tasks[1]
    assert [s for n, s in states.items() if n.startswith("summary")] == ["COMPLETED"]
    assert not in_params, run.parameters


def test_run_one_source_narrows_dbt_and_aggregations(
    harness: None, tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    """A newcomer's own source, run alone against the committed dbt project and pipelines."""
    from flows.cli.run import run_elt

    source_from(manifests_dir, "small", SQLITE_SOURCE.format(db=_sqlite(tmp_path)))
    summary = run_elt(None, sources=["small"], retries=0)
    run, _ = _last_flow_run()
    reliability.record(
        case="`kspyder run -s SOURCE` without the demo's sources loaded",
        injected="a new SQL source alone; the demo's raw tables absent",
        expected="dbt narrowed to source:small+, no aggregation over other databases; COMPLETED",
        survived=int(run.state_type.value == "COMPLETED"),
    )
    assert summary["failures"] == [], summary["failures"]
    assert summary["aggregates"] == [] and run.state_type.value == "COMPLETED"


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
    assert result.status == "ok" and stored == HOSTILE_CELLS


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
    assert matched == 10 and {r["team"] for r in rows} == {"$tags.owner_team"}
    assert "=1+2" in {r["note"] for r in rows}  # JSON exact
    assert "'=1+2" in cells and "=1+2" not in cells  # CSV inert


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


HASHED_SOURCE = """\
kind: sql
connection: {{url: 'sqlite:///{db}'}}
models:
  customers: {{primary_key: id, columns: {{email: hash}}}}
"""


def _customers(tmp_path: Path, n: int = 40) -> Path:
    import sqlite3

    db = tmp_path / "crm.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table customers (id integer primary key, email text)")
        rows = [(i, f"user{i}@example.com") for i in range(n)]
        conn.executemany("insert into customers values (?, ?)", rows)
    return db


@pytest.mark.postgres
def test_another_hmac_key_is_refused_until_rotate_key_rehashes(
    tmp_path: Path,
    manifests_dir: Path,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    from typer.testing import CliRunner

    from extract.pii import pseudonym
    from extract.pii_key import KeyMismatch, fingerprint, stored_fingerprint
    from flows.cli import build_app
    from tests.helpers import query

    old_key, new_key = "first-key-2f9a61c0d4", "second-key-8c3e17b5a2"
    source = source_from(manifests_dir, "crm", HASHED_SOURCE.format(db=_customers(tmp_path)))
    warehouse = resolve(pg_database)
    monkeypatch.setenv("KSPYDER_HMAC_KEY", old_key)
    (first,) = extract_source(source, warehouse)
    assert first.status == "ok" and stored_fingerprint(warehouse) == fingerprint(old_key.encode())
    monkeypatch.setenv("KSPYDER_HMAC_KEY", new_key)  # the key file lost, a new one made
    with pytest.raises(KeyMismatch) as refused:
        extract_source(source, warehouse, full_refresh=False)
    sql = "select email from crm.customers order by id"
    hashes = [r[0] for r in query(pg_database, sql)]
    mixed = sum(
        h != pseudonym(f"user{i}@example.com", old_key.encode()) for i, h in enumerate(hashes)
    )
    result = CliRunner().invoke(build_app(), ["pii", "rotate-key", "--warehouse", pg_database])
    rehashed = [r[0] for r in query(pg_database, sql)]
    matches = sum(
        h == pseudonym(f"user{i}@example.com", new_key.encode()) for i, h in enumerate(rehashed)
    )
    reliability.record(
        case="HMAC key changed between runs",
        injected="KSPYDER_HMAC_KEY replaced after a first load of a hashed column",
        expected="the load is refused naming restore / `kspyder pii rotate-key`; rotate-key "
        "re-hashes every row and records the new fingerprint",
        survived=int(mixed == 0 and matches == len(rehashed) == 40),
        notes=f"{matches} of {len(rehashed)} rows re-hashed with the new key",
    )
    assert "kspyder pii rotate-key" in str(refused.value) and "Restore that key" in str(
        refused.value
    )
    assert old_key not in str(refused.value) and new_key not in str(refused.value)
    assert mixed == 0, "rows were hashed with two keys"
    assert result.exit_code == 0, result.output
    assert matches == len(rehashed) == 40
    assert stored_fingerprint(warehouse) == fingerprint(new_key.encode())
    (again,) = extract_source(source, warehouse)
    assert again.status == "ok"


def test_demo_key_lives_in_the_user_config_folder_with_mode_0600(
    tmp_path: Path, kspyder_home: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    import os
    import stat

    from demo.local import ensure_hmac_key
    from extract.pii import HMAC_KEY_FILE_ENV, hmac_key

    monkeypatch.delenv("KSPYDER_HMAC_KEY")
    monkeypatch.delenv(HMAC_KEY_FILE_ENV, raising=False)
    (kspyder_home / "hmac.key").write_text("legacy-demo-key-77aa")  # where it used to be
    os.umask(0o000)  # a chmod after writing would leave a window with 0666
    try:
        ensure_hmac_key()
    finally:
        os.umask(0o022)
    path = Path(os.environ[HMAC_KEY_FILE_ENV])
    mode = stat.S_IMODE(path.stat().st_mode)
    reliability.record(
        case="where the demo HMAC key lives",
        injected="`kspyder demo`, no key configured, a key left in .kspyder/ by an older version",
        expected="moved to $XDG_CONFIG_HOME/kspyder/hmac.key, created 0600 with O_EXCL",
        survived=int(mode == 0o600 and kspyder_home not in path.parents),
    )
    assert path == tmp_path / "config" / "kspyder" / "hmac.key"
    assert mode == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert hmac_key() == b"legacy-demo-key-77aa"  # pseudonyms stay stable
    assert not (kspyder_home / "hmac.key").exists()
    monkeypatch.delenv(HMAC_KEY_FILE_ENV)
    ensure_hmac_key()  # the second time keeps the file
    assert path.read_text() == "legacy-demo-key-77aa"


def test_validate_on_a_fresh_clone_passes_without_runtime_secrets(
    monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    from typer.testing import CliRunner

    from extract import project
    from flows.cli import build_app

    monkeypatch.setenv("KSPYDER_MANIFESTS", str(project.ROOT / "manifests"))
    for name in ("CRM_API_TOKEN", "CRM_API_URL", "ERP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    plain = CliRunner().invoke(build_app(), ["validate"])
    strict = CliRunner().invoke(build_app(), ["validate", "--strict"])
    reliability.record(
        case="`kspyder validate` on a fresh clone",
        injected="the committed manifests, no runtime secret set (CRM_API_TOKEN unset)",
        expected="exit 0, the unset variables listed as what a run needs; --strict: exit 2",
        survived=int(plain.exit_code == 0 and strict.exit_code == 2),
    )
    assert plain.exit_code == 0, plain.output
    assert "manifest(s) valid" in plain.output
    assert "a run will need" in plain.output and "CRM_API_TOKEN is not set" in plain.output
    assert strict.exit_code == 2


def test_a_busy_source_ends_in_one_line_naming_the_holder(
    harness: None,
    tmp_path: Path,
    manifests_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    reliability: Any,
) -> None:
    import subprocess
    import sys

    from extract import project
    from flows.cli.run import run_elt
    from tests.reliability.helpers import run_cli

    source_from(manifests_dir, "small", SQLITE_SOURCE.format(db=_sqlite(tmp_path)))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from extract.locks import source_lock\n"
         "with source_lock('small'):\n    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=project.ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("KSPYDER_LOCK_WAIT", "1")
        cli = run_cli("extract", "small", KSPYDER_LOCK_WAIT="1")
        capfd.readouterr()
        summary = run_elt(None, sources=["small"], retries=2)
        flow_output = capfd.readouterr()
        run, tasks = _last_flow_run()
    finally:
        holder.kill()
        holder.wait()
    named = f"being loaded by pid {holder.pid}"
    tracebacks = cli.stderr.count("Traceback") + flow_output.err.count("Traceback")
    unit_runs = [t for t in tasks if t.name.startswith("extract-small-")]
    reliability.record(
        case="a source busy with another run",
        injected="another process holds the source's lock (KSPYDER_LOCK_WAIT=1)",
        expected="`kspyder extract` and the flow end in one line naming the holder's pid; "
        "no traceback, no retry of the wait; the flow run FAILED",
        survived=int(tracebacks == 0 and named in cli.stderr),
    )
    assert cli.returncode == 1 and named in cli.stderr, cli.stderr
    assert tracebacks == 0, cli.stderr + flow_output.err
    assert named in summary["failures"][0] and run.state_type.value == "FAILED"
    assert [t.run_count for t in unit_runs] == [1]  # waiting again would not help


def test_dbt_generate_stages_rest_child_tables_with_join_keys(
    httpserver: HTTPServer, manifests_dir: Path, tmp_path: Path, reliability: Any
) -> None:
    import re

    import duckdb

    from extract import project
    from transform.dbt.generate import generate, staging_dir

    tickets = [
        {"id": i, "title": f"t{i}", "tags": [f"tag{j}" for j in range(i % 3)]} for i in range(9)
    ]
    httpserver.expect_request("/tickets").respond_with_json({"data": tickets})
    text = (
        f"kind: rest\nclient: {{base_url: '{httpserver.url_for('/')}', paginator: single_page}}\n"
        "models:\n  tickets: {primary_key: id, endpoint: {path: /tickets, data_selector: data}}\n"
    )
    source = source_from(manifests_dir, "helpdesk", text)
    (result,) = extract_source(source, resolve())
    assert result.status == "ok", result.error
    generate({"helpdesk": source}, resolve(), project_dir=tmp_path)
    folder = staging_dir("helpdesk", tmp_path)
    child = folder / "stg_helpdesk__tickets__tags.sql"
    compiled = {
        name: re.sub(r"\{\{ source\('helpdesk', '(\w+)'\) \}\}", r"helpdesk.\1", path.read_text())
        for name, path in (
            ("tickets", folder / "stg_helpdesk__tickets.sql"),
            ("tickets__tags", child),
        )
        if path.exists()
    }
    joined = None
    if child.exists():
        con = duckdb.connect(str(project.duckdb_path()), read_only=True)
        try:
            joined = con.execute(
                f"with t as ({_body(compiled['tickets'])}), "
                f"g as ({_body(compiled['tickets__tags'])}) "
                "select count(*) from g join t using (ticket_row_id)"
            ).fetchone()[0]
        finally:
            con.close()
    expected = sum(len(t["tags"]) for t in tickets)
    reliability.record(
        case="`kspyder dbt generate` and REST child tables",
        injected="a REST model whose records hold a list (dlt child table tickets__tags)",
        expected="a staging model per child table; parent and child join on <entity>_row_id",
        survived=int(joined == expected),
        notes=f"{joined} of {expected} tags joined to their ticket",
    )
    assert child.exists(), sorted(p.name for p in folder.iterdir())
    assert (
        "ticket_row_id" in compiled["tickets__tags"] and "tag_row_id" in compiled["tickets__tags"]
    )
    assert "cast(_dlt_id as varchar) as ticket_row_id" in compiled["tickets"]
    assert "tickets__tags" in (folder / "_helpdesk__sources.yml").read_text()
    assert joined == expected


def _body(sql: str) -> str:
    """A generated staging model without its header comments."""
    return "\n".join(line for line in sql.splitlines() if not line.startswith("--"))


def test_concurrent_first_loads_record_one_fingerprint(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    """Sources run concurrently (the elt flow): the first hashed loads race to record it."""
    from concurrent.futures import ThreadPoolExecutor

    from extract.pii_key import check_key, stored_fingerprint

    db = _customers(tmp_path)
    sources = [source_from(manifests_dir, f"crm{i}", HASHED_SOURCE.format(db=db)) for i in range(6)]
    failed: list[BaseException] = []
    for round_ in range(10):  # a fresh warehouse each round: the race is on its creation
        warehouse = resolve(f"duckdb:///{tmp_path / f'wh{round_}.duckdb'}")
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(check_key, s, ["customers"], warehouse) for s in sources]
            failed += [e for e in (f.exception() for f in futures) if e is not None]
    reliability.record(
        case="six sources with hashed columns start at once (DuckDB)",
        injected="six threads record the key fingerprint of a fresh warehouse together, 10 times",
        expected="one fingerprint, no write-write conflict on kspyder_meta",
        faults=60,
        survived=60 - len(failed),
    )
    assert failed == [], failed
    assert stored_fingerprint(warehouse) is not None
