"""The closed set of model statuses, from the load to the summary and the command line.

ok: every row arrived; warn: loaded, with something the user must know (see
``extract.integrity``), which does not fail the run; failed: the model's load did not complete.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["ok", "warn", "failed"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "failed")


def is_failure(status: str) -> bool:
    """True for a failed model (``warn`` is not a failure)."""
    return status not in ("ok", "warn")
