"""Client settings (headers, params, timeout, TLS), record selection and response actions."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest
from rest_helpers import FakeApi, Reply, failure

from extract.rest import build_rest_source, rest_stats


def crm(url: str, client: str = "", endpoint: str = "") -> str:
    return f"""
kind: rest
client:
  base_url: {url}
  paginator: single_page
{client}
models:
  items:
    endpoint:
      path: /items
{endpoint}
"""


def items(source: Any) -> list[Any]:
    return list(build_rest_source(source).resources["items"])


def test_headers_and_default_params(api, manifest):
    api.route("/items")(lambda hit: [{"id": 1}])
    client = "  headers: {X-Tenant: acme}\n  params: {locale: fr, status: all}"
    endpoint = "      params: {status: active, limit: 50}"
    assert items(manifest(crm(api.url, client, endpoint))) == [{"id": 1}]
    hit = api.calls()[0]
    assert hit.headers["X-Tenant"] == "acme"
    assert hit.query == {"locale": "fr", "status": "active", "limit": "50"}


def test_timeout_is_retried_then_fails(api, manifest):
    calls: list[int] = []

    @api.route("/items")
    def slow_once(hit):
        calls.append(1)
        return Reply([{"id": 1}], delay=0.6 if len(calls) == 1 else 0)

    client = "  timeout: 0.2\n  retry: {max_attempts: 2, backoff_factor: 0}"
    assert items(manifest(crm(api.url, client))) == [{"id": 1}]
    assert rest_stats("crm")["items"]["retries"] == 1

    api.route("/items")(lambda hit: Reply([], delay=0.6))
    err = str(failure(lambda: items(manifest(crm(api.url, client)))))
    assert "ReadTimeout after 2 attempt(s)" in err
    assert "model 'items' page 1" in err


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_tls_verify(manifest, tls_context):
    server = FakeApi(tls=tls_context)
    server.route("/items")(lambda hit: [{"id": 1}])
    server.thread.start()
    try:
        strict = crm(server.url, "  retry: {max_attempts: 1}")
        err = str(failure(lambda: items(manifest(strict))))
        assert "SSLError" in err
        assert "https://127.0.0.1" in err
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning
            assert items(manifest(crm(server.url, "  verify: false"))) == [{"id": 1}]
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_data_selector_path(api, manifest):
    api.route("/items")(lambda hit: {"results": {"items": [{"id": 1}, {"id": 2}]}, "n": 2})
    endpoint = "      data_selector: results.items"
    assert items(manifest(crm(api.url, "", endpoint))) == [{"id": 1}, {"id": 2}]
    api.route("/items")(lambda hit: {"error": "maintenance"})
    err = str(failure(lambda: items(manifest(crm(api.url, "", endpoint)))))
    assert "data_selector 'results.items' not found in the response (keys: error)" in err


def test_data_selector_detected(api, manifest):
    api.route("/items")(lambda hit: {"meta": {"count": 2}, "data": [{"id": 1}, {"id": 2}]})
    assert items(manifest(crm(api.url))) == [{"id": 1}, {"id": 2}]


def test_response_action_ignores_a_missing_child(api, manifest):
    api.route("/customers")(lambda hit: [{"id": 1}, {"id": 2}, {"id": 3}])
    for cid in (1, 3):
        api.route(f"/customers/{cid}/contacts")(lambda hit: [{"email": f"{hit.path[11]}@x"}])
    text = f"""
kind: rest
client: {{base_url: '{api.url}', paginator: single_page}}
models:
  customers: {{endpoint: /customers}}
  contacts:
    endpoint:
      path: /customers/{{customers.id}}/contacts
      response_actions: [{{status_code: 404, action: ignore}}]
"""
    text = text.replace("endpoint: /customers}", "endpoint: {path: /customers}}")
    source = build_rest_source(manifest(text), ["contacts"])
    assert list(source) == [{"email": "1@x"}, {"email": "3@x"}]
    assert rest_stats("crm")["contacts"]["requests"] == 3


def test_response_action_fail_and_retry_on_content(api, manifest):
    api.route("/items")(lambda hit: {"data": [], "warning": "quota exceeded"})
    endpoint = (
        "      response_actions:\n"
        "        - {content: quota exceeded, action: fail}\n"
        "        - {status_code: 200, content: try again, action: retry}\n"
    )
    client = "  retry: {max_attempts: 3, backoff_factor: 0}"
    err = str(failure(lambda: items(manifest(crm(api.url, client, endpoint)))))
    assert "response action 'fail' matched HTTP 200" in err

    answers = iter([{"status": "try again"}, {"data": [{"id": 7}]}])
    api.route("/items")(lambda hit: next(answers))
    assert items(manifest(crm(api.url, client, endpoint))) == [{"id": 7}]
    assert rest_stats("crm")["items"]["retries"] == 1
