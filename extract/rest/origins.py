"""Credentials stay with their origin: auth only for ``base_url``'s and the token URL's.

Credentials are the auth block and the ``client.headers`` whose name says they carry one
(``extract.secrets.is_credential_name``: ``X-Api-Key``, ``Ocp-Apim-Subscription-Key``...).

An origin is (scheme, host, port). A next link, ``Link`` header or redirect pointing at
another origin gets no credentials: by default (``auth.on_foreign_origin: fail``) the model
fails naming that origin before anything is sent there; with ``omit_credentials`` the request
is sent without them (auth headers removed from a redirected request too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from extract.errors import ExtractError

log = logging.getLogger(__name__)
Origin = tuple[str, str, int]
ForeignPolicy = Literal["fail", "omit_credentials"]
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of a URL, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def show(origin: Origin) -> str:
    """``scheme://host:port``."""
    return f"{origin[0]}://{origin[1]}:{origin[2]}"


class OriginBoundAuth(AuthBase):
    """Applies ``inner`` only to requests for the allowed origins."""

    def __init__(
        self,
        inner: AuthBase | None,
        origins: set[Origin],
        on_foreign: ForeignPolicy = "fail",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.inner = inner
        self.origins = origins
        self.on_foreign = on_foreign
        self.headers = dict(headers or {})  # credential headers of client.headers
        self._headers: set[str] = {"Authorization", "Proxy-Authorization", *self.headers}

    def __deepcopy__(self, memo: dict[int, object]) -> OriginBoundAuth:
        return self  # one token cache per source, even in copied request templates

    def allowed(self, url: str) -> bool:
        """True when ``url`` is on an origin the credentials belong to."""
        return origin_of(url) in self.origins

    def foreign(self, url: str, how: str) -> ExtractError:
        """The error naming the foreign origin (and where credentials are allowed)."""
        allowed = ", ".join(sorted(show(o) for o in self.origins))
        return ExtractError(
            f"{how} points at {show(origin_of(url))}, another origin than the credentials' "
            f"({allowed}); credentials not sent. Set auth.on_foreign_origin: omit_credentials "
            "to follow it without credentials"
            + ("" if self.inner else " (credentials here: client.headers)")
        )

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = str(request.url)
        if self.allowed(url):
            request.headers.update(self.headers)
            if self.inner is not None:
                before = set(request.headers)
                request = self.inner(request)
                self._headers |= set(request.headers) - before
            return request
        if self.on_foreign == "fail":
            raise self.foreign(url, "a request (next link or Link header)")
        log.warning("request to %s sent without credentials", show(origin_of(url)))
        return request

    def on_redirect(self, request: requests.PreparedRequest) -> None:
        """Called for each redirect: strip (or refuse) credentials for a foreign target."""
        url = str(request.url)
        if self.allowed(url):
            return
        if self.on_foreign == "fail":
            raise self.foreign(url, "a redirect")
        for name in self._headers:
            request.headers.pop(name, None)
        log.warning("redirect to %s followed without credentials", show(origin_of(url)))


class GuardedSession(requests.Session):
    """A session whose redirects never carry credentials to another origin."""

    guard: OriginBoundAuth | None = None

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        if self.guard is not None:
            self.guard.on_redirect(prepared_request)
