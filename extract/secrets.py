"""Secret values: remember what ``${ENV}`` references resolved to, and redact them.

Expansion itself is extract/manifest/env.py. Every value that came from an environment
reference in a secret position is registered, and ``redact`` replaces it anywhere in a text
(errors, logs, summaries). A logging filter applies it to every record of the process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus, unquote

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
SECRET_KEYS = frozenset(
    {"token", "password", "api_key", "client_secret", "secret", "key", "hmac_key"}
)
URL_KEYS = frozenset({"url", "base_url", "token_url", "uri"})
# request headers and query parameters (client.headers, client.params, endpoint.params) whose
# name says they carry a credential: ${ENV} references only, masked, and (headers) bound to
# base_url's origin like the auth block
CREDENTIAL_WORDS = frozenset(
    {"authorization", "auth", "cookie", "key", "apikey", "token", "secret", "password",
     "passwd", "pwd", "signature", "sig", "session", "sessionid", "credential", "credentials"}
)  # fmt: skip
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
CREDENTIAL_BLOCKS = frozenset({"headers", "params"})
# shorter secrets are replaced only as whole tokens (a one-letter password is not masked
# inside every word that contains the letter)
WHOLE_TOKEN_BELOW = 8
MASK = "***"
# scheme://user:password@host: the password may hold '/' or '@' (the userinfo ends at the
# last '@' before the query), so it is matched greedily up to that '@'
URL_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s'\"]*:)(?P<pw>[^\s?#'\"]*)@"
    r"(?=[^@\s?#'\"]*(?:[/?#\s'\"]|$))"
)
# password=... in query strings (?password=, &sslpassword=) and libpq DSN strings
PASSWORD_PARAM = re.compile(
    r"(?i)(?P<head>(?<![A-Za-z0-9_])(?:ssl)?(?:password|passwd|pwd)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s;'\"]+)"
)
_lock = threading.Lock()
_secrets: set[str] = set()


def is_credential_name(name: object) -> bool:
    """True for a header or parameter name that carries a credential (``X-Api-Key``,
    ``Authorization``, ``Ocp-Apim-Subscription-Key``, ``access_token``...)."""
    if not isinstance(name, str):
        return False
    return any(word.lower() in CREDENTIAL_WORDS for word in _WORDS.findall(name))


def register_secret(value: str | None) -> None:
    """Remember a secret value (and its percent-encoded forms) so ``redact`` hides it."""
    if not value:
        return
    forms = {value, unquote(value), quote(value, safe=""), quote_plus(value)}
    with _lock:
        _secrets.update(f for f in forms if f)


def register_env_secrets(*names: str) -> None:
    """Register the values of environment variables known to hold secrets."""
    for name in names:
        register_secret(os.environ.get(name))


def redact(text: str) -> str:
    """Replace URL and DSN passwords and every registered secret (longest first) by ``***``.

    Secrets shorter than ``WHOLE_TOKEN_BELOW`` are replaced only where they stand alone.
    """
    text = URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = PASSWORD_PARAM.sub(lambda m: f"{m['head']}{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret not in text:
            continue
        if len(secret) >= WHOLE_TOKEN_BELOW:
            text = text.replace(secret, MASK)
        else:
            edge = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"
            text = re.sub(edge.format(re.escape(secret)), MASK, text)
    return text


def url_password(url: str) -> str | None:
    """The password of a URL or DSN string, if any, as written (percent-encoding kept).

    Recognised: ``scheme://user:password@host`` (``/`` and ``@`` inside the password),
    ``?password=...`` query parameters and libpq ``password=...`` DSN strings.
    """
    for pattern in (URL_USERINFO, PASSWORD_PARAM):
        match = pattern.search(url)
        if match and match["pw"]:
            return str(match["pw"]).strip("'")
    return None


def quote_url_password(url: str) -> str:
    """The URL with its userinfo password percent-encoded (drivers split at the first '@').

    A password already encoded stays as it is; ``user:p/ss@host`` becomes ``user:p%2Fss@host``.
    """
    match = URL_USERINFO.search(url)
    if not match or not match["pw"] or ENV_REF.search(match["pw"]):
        return url
    encoded = quote(unquote(match["pw"]), safe="")
    register_secret(encoded)
    return f"{url[: match.start('pw')]}{encoded}{url[match.end('pw') :]}"


def url_endpoint(url: str) -> str | None:
    """``host:port`` of a URL (what a connection error must name), or None."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s]*@)?(\[[^\]]+\]|[^:/?#\s@]+)(:\d+)?", url)
    if not match:
        return None
    return f"{match[1]}{match[2] or ''}"


def url_passwords(url: str) -> list[str]:
    """Every password a URL or DSN string carries (userinfo and query/DSN parameters)."""
    found = [m["pw"] for p in (URL_USERINFO, PASSWORD_PARAM) for m in p.finditer(url)]
    return [str(pw).strip("'") for pw in found if pw]


class RedactingFilter(logging.Filter):
    """Logging filter that redacts registered secrets from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a broken format string is not ours to fix here)
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to the root logger's handlers and to new records."""
    flt = RedactingFilter()
    root = logging.getLogger()
    root.addFilter(flt)
    for handler in root.handlers:
        handler.addFilter(flt)
    old_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old_factory(*args, **kwargs)
        flt.filter(record)
        return record

    if not getattr(old_factory, "_kspyder", False):
        factory._kspyder = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
