"""``${VAR}`` and ``${VAR:-default}`` references in manifest values."""

from __future__ import annotations

import os
import re

from extract.errors import MissingEnv
from extract.secrets import register_secret

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
