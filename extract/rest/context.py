"""Where a request belongs (source, model, page) and how errors name it without secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from requests import PreparedRequest, Request

from extract.errors import ExtractError

# query parameter names that look like credentials; they are removed from URLs in messages
SECRET_PARAM = re.compile(
    r"(?i)(token|secret|passw|pwd|api[-_]?key|^key$|auth|signature|^sig$|session|credential)"
)


def safe_url(url: str) -> str:
    """The URL without user info and without query parameters that look secret."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = urlencode([(k, v) for k, v in query if not SECRET_PARAM.search(k)])
    return urlunsplit(parts._replace(netloc=netloc, query=kept))


def request_url(request: Request) -> str:
    """The URL a request goes to, with its query parameters but before any auth is applied."""
    prepared = PreparedRequest()
    prepared.prepare_url(request.url, request.params)
    return str(prepared.url)


@dataclass(frozen=True)
class PageRef:
    """One page of one model of one source: what every message and error names."""

    source: str
    model: str
    page: int
    method: str
    url: str

    @classmethod
    def of(cls, source: str, model: str, page: int, request: Request) -> PageRef:
        """The reference of the page a request is about to fetch (auth not applied)."""
        return cls(source, model, page, str(request.method), safe_url(request_url(request)))

    def describe(self) -> str:
        """``source 'crm' model 'customers' page 3 (GET http://...)``."""
        return (
            f"source '{self.source}' model '{self.model}' page {self.page} "
            f"({self.method} {self.url})"
        )

    def error(self, message: str) -> ExtractError:
        """An ``ExtractError`` naming the page; secrets are redacted by ``KspyderError``."""
        return ExtractError(f"REST {self.describe()}: {message}")
