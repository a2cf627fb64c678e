"""Where personal data is, how it is handled, and which columns nobody classified.

``pii_report`` lists every column a manifest classifies (``pii: drop|hash|mask|redact|keep``)
with the place its strategy runs, then flags unclassified columns whose name or sampled
values look personal. Columns come from the warehouse when there is one (values sampled
from the raw tables), else from the committed staging snapshot and the manifests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from extract.manifest.typing import Model, Source
from transform.dbt import introspect
from transform.dbt.columns import logical_type, read_snapshot
from transform.dbt.generate import staging_dir

if TYPE_CHECKING:
    from extract.warehouse import Warehouse

APPLIED = {
    "drop": "extract (dlt map)",
    "hash": "extract (dlt map)",
    "mask": "dbt staging macro",
    "redact": "dbt staging macro",
    "keep": "stored as is",
}
UNCLASSIFIED = "UNCLASSIFIED"
# column-name tokens that name personal data on their own
_NAME_PATTERNS = [
    re.compile(p)
    for p in (
        r"e_?mail|^mail$|_mail$",
        r"phone|^tel$|_tel$|^tel_|telephone|mobile|^cell|fax|gsm",
        r"iban|^bic$|swift|bank_account|account_number|card_number|credit_card|cvv",
        r"first_?name|last_?name|given_name|family_name|sur_?name|full_?name|maiden",
        r"address|street|^zip|_zip|postal|post_?code",
        r"birth|^dob$|_dob$|^age$",
        r"ssn|social_security|passport|national_id|tax_id|driver_licen[cs]e|insurance_number",
        r"ip_address|^ip$|_ip$|geo_?loc|latitude|longitude|^lat$|^lon$",
        r"password|secret|token",
    )
]
# trailing parts that describe something about the data, not the data itself
_HARMLESS_SUFFIXES = ("city", "country", "region", "state", "type", "kind", "verified", "count")
_PERSON_TABLES = re.compile(
    r"customer|client|user|contact|person|people|employee|member|patient|lead|account"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_PHONE = re.compile(r"^(\+|00|\()?\d[\d\s().-]{6,}\d$")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
SAMPLE_SIZE = 50
MIN_SHARE = 0.3


@dataclass(frozen=True)
class Row:
    """One column of the report: its strategy (or UNCLASSIFIED), where it applies, why."""

    source: str
    model: str
    column: str
    strategy: str
    applied: str
    evidence: str = ""

    @property
    def suspect(self) -> bool:
        """True for an unclassified column that looks like personal data."""
        return self.strategy == UNCLASSIFIED

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for JSON output."""
        return {**asdict(self), "suspect": self.suspect}


def name_suspicion(model: str, column: str) -> str | None:
    """Why a column name looks personal, or None."""
    name = column.lower().replace("__", "_")
    if name.rsplit("_", 1)[-1] in _HARMLESS_SUFFIXES and "_" in name:
        return None
    for pattern in _NAME_PATTERNS:
        if pattern.search(name):
            return f"name matches /{pattern.pattern}/"
    if name == "name" and _PERSON_TABLES.search(model.lower()):
        return "name of a person-like table"
    return None


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97 check (spaces ignored)."""
    compact = text.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def value_kind(value: str) -> str | None:
    """'email', 'phone' or 'iban' when a value looks like one."""
    text = value.strip()
    if _EMAIL.match(text):
        return "email"
    if iban_valid(text):
        return "iban"
    digits = sum(ch.isdigit() for ch in text)
    if _PHONE.match(text) and 8 <= digits <= 15 and not _DATE_LIKE.match(text):
        if text[0] in "+(" or not text.isdigit():
            return "phone"
    return None


def value_suspicion(values: list[str]) -> str | None:
    """Why sampled values look personal (a kind matching >= 30% of them), or None."""
    if not values:
        return None
    counts: dict[str, int] = {}
    for value in values:
        kind = value_kind(value)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return None
    kind, hits = max(counts.items(), key=lambda kv: kv[1])
    if hits / len(values) < MIN_SHARE:
        return None
    return f"{hits}/{len(values)} sampled values look like {kind}s"


def _classified(source: Source, model: Model) -> list[Row]:
    return [
        Row(source.name, model.name, name, col.pii, APPLIED[col.pii])
        for name, col in model.columns.items()
        if col.pii
    ]


def _columns(
    source: Source, model: Model, live: dict[str, list[tuple[str, str]]] | None
) -> list[tuple[str, str]]:
    """``(column, logical type)`` of a model: warehouse, else snapshot, else manifest."""
    if live is not None and model.name in live:
        return [(c, logical_type(t)) for c, t in live[model.name]]
    snapshot = read_snapshot(staging_dir(source.name))
    if model.name in snapshot:
        return snapshot[model.name]
    return [(name, col.type or "text") for name, col in model.columns.items()]


def _suspects(
    source: Source, model: Model, columns: list[tuple[str, str]], query: introspect.Query | None
) -> list[Row]:
    rows = []
    for name, type_ in columns:
        if name.startswith(introspect.DLT_PREFIX):
            continue
        col = model.columns.get(name)
        if col is not None and col.pii:
            continue
        reasons = [r for r in [name_suspicion(model.name, name)] if r]
        if query is not None and type_ == "text":
            values = introspect.sample_values(query, source.name, model.name, name, SAMPLE_SIZE)
            by_value = value_suspicion(values)
            if by_value:
                reasons.append(by_value)
        if reasons:
            rows.append(Row(source.name, model.name, name, UNCLASSIFIED, "-", "; ".join(reasons)))
    return rows


def pii_report(
    sources: dict[str, Source] | Iterable[Source], warehouse: Warehouse | None = None
) -> list[Row]:
    """Classified columns and unclassified suspects of every warehouse source."""
    items = list(sources.values()) if isinstance(sources, dict) else list(sources)
    selected = [s for s in items if s.target == "warehouse"]
    rows: list[Row] = []
    if not introspect.available(warehouse):
        for source in selected:
            for model in source.models.values():
                rows += _classified(source, model)
                rows += _suspects(source, model, _columns(source, model, None), None)
        return rows
    assert warehouse is not None
    with introspect.connect(warehouse) as query:
        for source in selected:
            live = introspect.table_columns(query, source.name)
            for model in source.models.values():
                rows += _classified(source, model)
                present = model.name in live
                columns = _columns(source, model, live)
                rows += _suspects(source, model, columns, query if present else None)
    return rows
