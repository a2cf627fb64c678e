"""A 401 in the middle of a walk: refresh the OAuth2 token once, and say why it failed.

Tokens can expire early or be revoked (Azure answers 401 ``ExpiredAuthenticationToken``)
while the cached one still looks valid; the transport then asks the auth object for a new
token once and sends the request again. Auth error bodies may echo credentials, so only the
error *code* of a JSON body (a short identifier) is ever quoted.
"""

from __future__ import annotations

import re
from typing import Any

import requests

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")


def refresh_token(auth: Any) -> bool:
    """Drop the cached token of a refreshable auth (OAuth2); False when there is none.

    An auth bound to its origins (``extract.rest.origins.OriginBoundAuth``) is looked through.
    """
    auth = getattr(auth, "inner", auth)
    invalidate = getattr(auth, "invalidate", None)
    if not callable(invalidate):
        return False
    invalidate()
    return True


def error_code(response: requests.Response) -> str | None:
    """``error.code`` (ARM) or ``error`` (OAuth2) of a JSON error body, when an identifier."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else error
    return code if isinstance(code, str) and _CODE.fullmatch(code) else None
