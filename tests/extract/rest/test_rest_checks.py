"""Semantic checks of REST manifests: invalid configurations as data, one test."""

from __future__ import annotations

import copy

import pytest

from extract.errors import ConfigError
from extract.rest import build_rest_source

BASE = """
kind: rest
client:
  base_url: http://127.0.0.1:9
{client}
models:
  customers: {{endpoint: {{path: /customers}}}}
{models}
"""

CASES = [
    (
        "  paginator: {type: foo}",
        "",
        "client.paginator.type: Invalid paginator: foo. Available options: auto, cursor, "
        "header_link, json_link, offset, page_number, single_page",
    ),
    ("  paginator: {type: offset}", "", "client.paginator.limit: required key is missing"),
    (
        "  paginator: {type: cursor, total_path: total}",
        "",
        "client.paginator.total_path: unknown key 'total_path' (allowed: cursor_body_path, "
        "cursor_param, cursor_path, has_more_path, max_pages, stop_after_empty_page, type)",
    ),
    (
        "  paginator: {type: page_number, total_path: a, total_pages_path: b}",
        "",
        "client.paginator: give total_pages_path (pages) or total_path (records), not both",
    ),
    ("  auth: {type: bearer}", "", "client.auth.token: auth type 'bearer' needs 'token'"),
    (
        "  auth: {type: basic, username: me}",
        "",
        "client.auth.password: auth type 'basic' needs 'password'",
    ),
    (
        "  auth: {type: api_key, api_key: '${SOME_KEY}'}",
        "",
        "client.auth.name: auth type 'api_key' needs 'name'",
    ),
    (
        "  auth: {type: oauth2_client_credentials, client_id: me}",
        "",
        "client.auth.token_url: auth type 'oauth2_client_credentials' needs 'token_url'",
    ),
    (
        "  auth: {type: bearer, token: '${SOME_KEY}', username: me}",
        "",
        "client.auth.username: key 'username' is not used by auth type 'bearer'",
    ),
    (
        "",
        "  contacts: {parent: people, endpoint: {path: /contacts}}",
        "models.contacts.parent: parent model 'people' does not exist (models: contacts, "
        "customers)",
    ),
    (
        "",
        "  contacts: {endpoint: {path: '/people/{people.id}/contacts'}}",
        "models.contacts.endpoint: placeholder '{people.…}' references unknown model 'people'",
    ),
    (
        "",
        "  contacts:\n    parent: customers\n    endpoint: {path: '/x/{deals.id}'}\n"
        "  deals: {endpoint: {path: /deals}}",
        "placeholder '{deals.…}' must reference the parent model 'customers'",
    ),
    (
        "",
        "  contacts: {include_from_parent: [id], endpoint: {path: /contacts}}",
        "models.contacts.include_from_parent: include_from_parent needs a parent model",
    ),
    (
        "",
        "  a: {parent: b}\n  b: {parent: a}",
        "models.a.parent: parent cycle: a -> b -> a",
    ),
    (
        "",
        "  contacts: {endpoint: {path: /c, response_actions: [{action: ignore}]}}",
        "models.contacts.endpoint.response_actions.0: give status_code, content or both",
    ),
]


@pytest.mark.parametrize(("client", "models", "message"), CASES)
def test_invalid_rest_manifests(manifest, monkeypatch, client, models, message):
    monkeypatch.setenv("SOME_KEY", "some-key-value")
    with pytest.raises(ConfigError) as info:
        manifest(BASE.format(client=client, models=models))
    assert message in str(info.value)
    assert "crm.yml:" in str(info.value)


def test_valid_manifest_is_not_mutated_by_building(manifest):
    source = manifest(BASE.format(client="  paginator: {type: offset, limit: 5}", models=""))
    before = copy.deepcopy(source.model_dump())
    build_rest_source(source)
    assert source.model_dump() == before
