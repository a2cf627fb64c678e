"""Secret values: expand ``${ENV}`` references, remember what they resolved to, redact them.

Every value that came from an environment reference in a secret position is registered, and
``redact`` replaces it anywhere in a text (errors, logs, summaries). A logging filter
applies it to every record of the process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_KEYS = frozenset(
    {"token", "password", "api_key", "client_secret", "secret", "key", "hmac_key"}
)
URL_KEYS = frozenset({"url", "base_url", "token_url", "uri"})
MIN_SECRET_LEN = 4
_lock = threading.Lock()
_secrets: set[str] = set()


class MissingEnv(KeyError):
    """An ``${ENV}`` reference without default names an unset variable."""


def register_secret(value: str | None) -> None:
    """Remember a secret value so ``redact`` hides it from now on."""
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def register_env_secrets(*names: str) -> None:
    """Register the values of environment variables known to hold secrets."""
    for name in names:
        register_secret(os.environ.get(name))


def redact(text: str) -> str:
    """Replace every registered secret (longest first) and URL passwords by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return re.sub(r"(://[^:/@\s]+:)[^@/\s]+@", r"\1***@", text)


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the reference whose body starts at ``start``."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def expand(value: str, secret: bool = False) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (defaults may nest references).

    A default is expanded only when its variable is unset or empty; a result in a secret
    position is registered for redaction.
    """
    out: list[str] = []
    i = 0
    while True:
        j = value.find("${", i)
        if j < 0:
            out.append(value[i:])
            break
        out.append(value[i:j])
        end = _closing(value, j + 2)
        match = _NAME.match(value, j + 2)
        if end < 0 or match is None:
            out.append(value[j:])
            break
        name, rest = match.group(0), value[match.end() : end]
        got = os.environ.get(name)
        if not got:
            if rest.startswith(":-"):
                got = expand(rest[2:], secret)
            elif got is None:
                raise MissingEnv(name)
        if secret:
            register_secret(got)
        out.append(got or "")
        i = end + 1
    return "".join(out)


def url_password(url: str) -> str | None:
    """The password part of a URL, if any (``scheme://user:password@host``)."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^@/\s]+)@", url)
    return match.group(1) if match else None


class RedactingFilter(logging.Filter):
    """Logging filter that redacts registered secrets from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
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
