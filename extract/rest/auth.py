"""Authentication from the manifest's ``auth`` block, on dlt's auth classes.

bearer, api_key (header or query) and basic are dlt's classes as they are. OAuth2 client
credentials extends dlt's: the token is cached per source, fetched under a lock (threads do
not race to fetch it), refreshed shortly *before* ``expires_in`` runs out, fetched with the
source's TLS and timeout settings, registered as a secret, and its failures never quote
the credentials.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from dlt.common.configuration.specs.base_configuration import configspec
from dlt.sources.helpers.rest_client.auth import (
    APIKeyAuth,
    BearerTokenAuth,
    HttpBasicAuth,
    OAuth2ClientCredentials,
)
from requests.auth import AuthBase

from extract.errors import ExtractError
from extract.manifest.typing import Auth, Client
from extract.rest.context import safe_url
from extract.rest.origins import OriginBoundAuth, origin_of
from extract.secrets import is_credential_name, register_secret

REQUIRED: dict[str, tuple[str, ...]] = {
    "bearer": ("token",),
    "api_key": ("name", "api_key"),
    "basic": ("username", "password"),
    "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "api_key": ("location",),
    "oauth2_client_credentials": ("scope",),
}
MAX_REFRESH_MARGIN = 60.0


def auth_problems(auth: Auth) -> list[tuple[str, str]]:
    """(key, message) for required keys missing and keys the auth type does not use."""
    needed = REQUIRED[auth.type]
    problems = [
        (key, f"auth type '{auth.type}' needs '{key}'") for key in needed if not getattr(auth, key)
    ]
    allowed = {"type", "on_foreign_origin", *needed, *OPTIONAL.get(auth.type, ())}
    problems += [
        (key, f"key '{key}' is not used by auth type '{auth.type}'")
        for key in sorted(auth.model_fields_set - allowed)
    ]
    return problems


@configspec
class ClientCredentials(OAuth2ClientCredentials):
    """dlt's OAuth2 client credentials with a refresh margin, a lock and clean errors."""

    timeout: float = 30.0
    verify: bool = True

    def __post_init__(self) -> None:
        self.session = requests.Session()
        super().__post_init__()
        self._lock = threading.Lock()
        self._expires_at = 0.0

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientCredentials:
        return self  # one token cache per source, even in copied request templates

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if self.access_token is None or self.is_token_expired():
                self.obtain_token()
            token = self.access_token
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def invalidate(self) -> None:
        """Forget the cached token (a 401 said it is no longer valid): the next call fetches."""
        with self._lock:
            self._expires_at = 0.0

    def is_token_expired(self) -> bool:
        return time.monotonic() >= self._expires_at

    def obtain_token(self) -> None:
        where = f"OAuth2 token request to {safe_url(self.access_token_url)}"
        try:
            response = self.session.post(
                self.access_token_url,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,  # a redirect would carry the client secret elsewhere
                **self.build_access_token_request(),
            )
        except requests.RequestException as exc:
            raise ExtractError(f"{where} failed: {type(exc).__name__}") from None
        if response.status_code >= 400:  # the body may echo the client secret: not shown
            raise ExtractError(f"{where} failed: HTTP {response.status_code} {response.reason}")
        if response.is_redirect:
            raise ExtractError(f"{where}: redirected (HTTP {response.status_code}), not followed")
        try:
            payload: Any = response.json()
            token = payload["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ExtractError(f"{where}: the response has no JSON 'access_token'") from None
        register_secret(str(token))
        self.access_token = str(token)
        lifetime = float(self.parse_expiration_in_seconds(payload))
        margin = min(MAX_REFRESH_MARGIN, lifetime / 10)
        self._expires_at = time.monotonic() + lifetime - margin


def create_auth(auth: Auth | None, client: Client) -> OriginBoundAuth | None:
    """Auth for the manifest block and the credential headers of ``client.headers``, applied
    only to ``base_url``'s and the token URL's origin; None when there are neither."""
    headers = credential_headers(client)
    if auth is None and not headers:
        return None
    origins = {origin_of(client.base_url)}
    if auth is not None and auth.token_url:
        origins.add(origin_of(auth.token_url))
    inner = _credentials(auth, client) if auth is not None else None
    policy = auth.on_foreign_origin if auth is not None else "fail"
    return OriginBoundAuth(inner, origins, policy, headers)


def credential_headers(client: Client) -> dict[str, str]:
    """The headers of ``client.headers`` that carry a credential (sent by the auth)."""
    return {k: v for k, v in client.headers.items() if is_credential_name(k)}


def plain_headers(client: Client) -> dict[str, str]:
    """The other headers of ``client.headers`` (sent with every request)."""
    return {k: v for k, v in client.headers.items() if not is_credential_name(k)}


def _credentials(auth: Auth, client: Client) -> AuthBase:
    """dlt's auth object for the block (validated by the checks)."""
    missing = [key for key, _ in auth_problems(auth) if not getattr(auth, key)]
    if missing:
        raise ExtractError(f"auth type '{auth.type}' needs {', '.join(missing)}")
    if auth.type == "bearer":
        return BearerTokenAuth(token=str(auth.token))
    if auth.type == "api_key":
        return APIKeyAuth(
            name=str(auth.name), api_key=str(auth.api_key), location=auth.location or "header"
        )
    if auth.type == "basic":
        return HttpBasicAuth(username=str(auth.username), password=str(auth.password))
    extra = {"scope": auth.scope} if auth.scope else {}
    return ClientCredentials(
        access_token_url=str(auth.token_url),
        client_id=str(auth.client_id),
        client_secret=str(auth.client_secret),
        access_token_request_data=extra,
        timeout=client.timeout,
        verify=client.verify,
    )
