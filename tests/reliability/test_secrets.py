"""Sentinel secrets must not appear anywhere: logs, errors, results, local files, the warehouse.

Secrets set in the environment: a REST bearer token (right and wrong), an API key sent in the
query string, the password of the PostgreSQL warehouse URL, the password of a SQL source URL,
the HMAC key. Runs: a REST source that succeeds (with a hashed column) into PostgreSQL, one
rejected with 401, two against a server that echoes the credentials it received in a 500
body, a SQL source whose database refuses the connection, a warehouse that refuses it; then
the failing ones again through the CLI. Every captured text and file is scanned.
"""

from __future__ import annotations

import gzip
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dlt.common.versioned_state import decompress_state
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from demo.api import DemoApi, serve_demo_api
from extract import project
from extract.load import ModelResult, extract_source
from extract.secrets import install_log_redaction
from extract.warehouse import resolve
from tests.helpers import query
from tests.reliability.helpers import crm_manifest, run_cli, source_from

pytestmark = pytest.mark.postgres
SENTINELS = {
    "bearer token": "SENTINEL-bearer-7f3a9c21",
    "wrong bearer token": "SENTINEL-wrongtok-2b8d41",
    "echoed bearer token": "SENTINEL-echotok-61c0a9",
    "query API key": "SENTINEL-apikey-0d93b7",
    "warehouse password": "SENTINEL-pgpw-5e1c77",
    "dead warehouse password": "SENTINEL-pgpw2-aa41f0",
    "SQL source password": "SENTINEL-erppw-4a6b21",
    "HMAC key": "SENTINEL-hmac-9d0e33aa",
}
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoApi]:
    with serve_demo_api(rate_per_second=None, people_n=50, token=SENTINELS["bearer token"]) as h:
        yield h


def _echo(request: Request) -> Response:
    """A careless server: its error page quotes the credentials it received."""
    body = (
        f"internal error for {request.headers.get('Authorization')} "
        f"query {request.query_string.decode()}"
    )
    return Response(body, status=500, content_type="text/plain")


def _scan(text: str, where: str, hits: list[str]) -> None:
    for name, value in SENTINELS.items():
        if value in text:
            hits.append(f"{name} in {where}")


def _scan_files(root: Path, hits: list[str]) -> int:
    scanned = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            try:
                data += gzip.decompress(data)
            except OSError:
                pass
        scanned += 1
        _scan(data.decode("utf-8", "replace"), str(path.relative_to(root)), hits)
    return scanned


def _scan_warehouse(url: str, hits: list[str]) -> int:
    columns = query(
        url,
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema not in ('pg_catalog', 'information_schema') "
        f"and data_type in {TEXT_TYPES}",
    )
    for schema, table, column in columns:
        found = query(
            url,
            f'select count(*) from "{schema}"."{table}" '
            f"where \"{column}\"::text like '%SENTINEL-%'",
        )[0][0]
        if found:
            hits.append(f"SENTINEL value in {schema}.{table}.{column}")
    for schema, table, _ in {(s, t, 0) for s, t, _ in columns if t == "_dlt_pipeline_state"}:
        for (state,) in query(url, f'select state from "{schema}"."{table}"'):
            _scan(str(decompress_state(state)), f"{schema}.{table}.state (decompressed)", hits)
    return len(columns)


def test_no_sentinel_secret_leaks(
    api: DemoApi,
    httpserver: HTTPServer,
    manifests_dir: Path,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    reliability: Any,
) -> None:
    install_log_redaction()  # as every entry point does (CLI callback, Prefect flows)
    caplog.set_level(logging.DEBUG)
    warehouse_url = pg_database.replace("postgres@", f"postgres:{SENTINELS['warehouse password']}@")
    monkeypatch.setenv("KSPYDER_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("KSPYDER_HMAC_KEY", SENTINELS["HMAC key"])
    monkeypatch.setenv("CRM_TOKEN", SENTINELS["bearer token"])
    monkeypatch.setenv("BAD_TOKEN", SENTINELS["wrong bearer token"])
    monkeypatch.setenv("ECHO_TOKEN", SENTINELS["echoed bearer token"])
    monkeypatch.setenv("ECHO_KEY", SENTINELS["query API key"])
    monkeypatch.setenv("ERP_PW", SENTINELS["SQL source password"])
    httpserver.expect_request("/items").respond_with_handler(_echo)
    echo_url = httpserver.url_for("/").rstrip("/")
    hashed = "  customers:\n    endpoint: {path: /crm/customers, data_selector: data}\n"
    hashed += "    columns: {email: hash}\n"
    crm = crm_manifest(api.base_url, extra_models="").replace("  customers:\n", "  unused:\n")
    sources = {
        "crm": source_from(manifests_dir, "crm", crm + hashed),
        "crm_bad": source_from(
            manifests_dir, "crm_bad", crm_manifest(api.base_url, token_env="BAD_TOKEN")
        ),
        "echo_bearer": source_from(
            manifests_dir,
            "echo_bearer",
            f"kind: rest\nclient:\n  base_url: {echo_url}\n  auth: {{type: bearer, token: "
            '"${ECHO_TOKEN}"}\n  retry: {max_attempts: 1}\n  paginator: single_page\n'
            "models:\n  items: {endpoint: {path: /items}}\n",
        ),
        "echo_query": source_from(
            manifests_dir,
            "echo_query",
            f"kind: rest\nclient:\n  base_url: {echo_url}\n  auth: {{type: api_key, name: code, "
            'location: query, api_key: "${ECHO_KEY}"}\n  retry: {max_attempts: 1}\n'
            "  paginator: single_page\nmodels:\n  items: {endpoint: {path: /items}}\n",
        ),
        "erp_bad": source_from(
            manifests_dir,
            "erp_bad",
            "kind: sql\nconnection: {url: 'postgresql://postgres:${ERP_PW}@127.0.0.1:1/erp'}\n"
            "models: [orders]\n",
        ),
    }
    warehouse = resolve()
    results: list[ModelResult] = []
    results += extract_source(sources["crm"], warehouse, ["deals", "customers"])
    succeeded = {r.model: r.status for r in results}
    for name in ("crm_bad", "echo_bearer", "echo_query", "erp_bad"):
        results += extract_source(sources[name], warehouse, list(sources[name].models)[:1])
    dead = resolve(f"postgresql://postgres:{SENTINELS['dead warehouse password']}@127.0.0.1:1/x")
    errors: list[str] = []
    try:
        results += extract_source(sources["crm"], dead, ["deals"])
    except Exception as exc:  # noqa: BLE001 (a refused connection may raise anything here)
        errors.append("".join(traceback.format_exception(exc)))
    cli = run_cli("extract", "crm_bad", "echo_bearer", "echo_query", "erp_bad")

    hits: list[str] = []
    for r in results:
        _scan(repr(r.as_dict()), f"ModelResult {r.source}.{r.model}", hits)
    for text in errors:
        _scan(text, "raised exception", hits)
    _scan(caplog.text, "log messages", hits)
    for record in caplog.records:
        _scan(record.getMessage() + (record.exc_text or ""), f"log record {record.name}", hits)
    captured = capsys.readouterr()
    _scan(captured.out + captured.err, "stdout/stderr", hits)
    _scan(cli.stdout + cli.stderr, "kspyder extract output", hits)
    files = _scan_files(project.home(), hits)
    columns = _scan_warehouse(warehouse.sqlalchemy_url(), hits)
    reliability.record(
        case="sentinel secrets after succeeding and failing runs",
        injected="bearer token (right, wrong, echoed by a 500 page), API key in the query "
        "string, warehouse URL password (live and dead), SQL source password, HMAC key",
        expected="none of them in logs, stdout/stderr, errors, results, files under "
        "KSPYDER_HOME or warehouse text columns",
        faults=len(SENTINELS),
        survived=int(not hits),
        secrets_leaked=len(hits),
        notes=f"{files} files, {columns} text columns scanned; {'; '.join(sorted(set(hits)))}",
    )
    assert succeeded == {"deals": "ok", "customers": "ok"}, results[:2]
    assert sorted(set(hits)) == []
    failed = {f"{r.source}.{r.model}" for r in results[2:] if r.status == "failed"}
    assert failed == {
        "crm_bad.deals",
        "echo_bearer.items",
        "echo_query.items",
        "erp_bad.orders",
        "crm.deals",  # into the dead warehouse
    }
    echoed = next(r.error or "" for r in results if r.source == "echo_bearer")
    assert "internal error for Bearer ***" in echoed, echoed  # the echo was redacted
    control: list[str] = []
    _scan(f"x{SENTINELS['HMAC key']}x", "control", control)
    assert control == ["HMAC key in control"]  # the scanner does find what it looks for
    assert "HTTP 401" in next(r.error or "" for r in results if r.source == "crm_bad")
    assert cli.returncode == 1
    assert files > 0
    assert columns > 0
