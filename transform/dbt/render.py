"""Render the generated dbt files of one source: staging SQL, sources YAML, models YAML.

Every staging model is the same template: a ``source`` CTE naming each raw column, a
``renamed`` CTE casting them (timestamps normalised to UTC) and applying the PII macros,
then ``select * from renamed``. SQL is portable between DuckDB and PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from extract.manifest.typing import Model, Source
from transform.dbt.columns import ColumnSpec

_SIMPLE = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = frozenset(
    "all and any as asc case cast check column constraint create default desc distinct do "
    "else end except false fetch for foreign from grant group having in intersect into is "
    "join limit not null offset on only or order primary references select table then to "
    "true union unique user using when where window with".split()
)
_CASTS = {
    "text": "cast({c} as varchar)",
    "bigint": "cast({c} as bigint)",
    "double": "cast({c} as double precision)",
    "decimal": "cast({c} as numeric(38, 9))",
    "bool": "cast({c} as boolean)",
    "timestamp": "cast({c} as timestamp)",
    "timestamptz": "cast({c} at time zone 'UTC' as timestamp)",
    "date": "cast({c} as date)",
    "time": "cast({c} as time)",
}
MONEY_CAST = "cast({c} as numeric(18, 4))"  # `money: true`: exact sums in marts
# `dbt source freshness`: a model's incremental cursor, when it is a time, says how old
# the newest row is; the daily deployment makes a day without new rows worth a warning
FRESHNESS = {"warn_after": {"count": 1, "period": "day"}}
_TIME_TYPES = ("timestamp", "timestamptz", "date")
_PHONE_WORDS = ("phone", "mobile", "tel", "fax", "gsm")


def ident(name: str) -> str:
    """The identifier as SQL needs it: bare when simple, double-quoted otherwise."""
    if _SIMPLE.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def singular(word: str) -> str:
    """'customers' -> 'customer', 'categories' -> 'category', 'addresses' -> 'address'."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def mask_macro(column: str) -> str:
    """Which masking macro a ``pii: mask`` column gets, by its name."""
    if "email" in column or "mail" in column:
        return "mask_email"
    if any(word in column for word in _PHONE_WORDS):
        return "mask_phone"
    return "mask_text"


def entity(table: str) -> str:
    """The singular entity of a table: ``customers`` -> ``customer``, a child table
    ``tickets__tags`` -> ``tag``."""
    return singular(table.rsplit("__", 1)[-1])


def relation_names(table: str) -> dict[str, str]:
    """dlt's relation columns -> staging names: a row's ``_dlt_id`` is ``<entity>_row_id``
    in its own table and, as ``_dlt_parent_id``, in its child tables (the join key)."""
    names = {"_dlt_id": f"{entity(table)}_row_id", "_dlt_list_idx": "list_index"}
    if "__" in table:
        names["_dlt_parent_id"] = f"{entity(table.rsplit('__', 1)[0])}_row_id"
    return names


def output_names(model: Model, columns: list[ColumnSpec]) -> dict[str, str]:
    """Raw column -> staging name: ``id`` -> ``<entity>_id``, ``a__b`` -> ``a_b``,
    hashed columns get ``_hash``, dlt's relation columns ``relation_names``. A name that
    would collide stays as it was."""
    raw = {c.name for c in columns}
    relation = relation_names(model.name)
    names: dict[str, str] = {}
    for col in columns:
        if col.name in relation:
            name = relation[col.name]
        elif col.name == "id":
            name = f"{entity(model.name)}_id"
        else:
            name = col.name.replace("__", "_")
        if col.pii == "hash" and not name.endswith("_hash"):
            name += "_hash"
        taken = set(names.values()) | (raw - {col.name})
        names[col.name] = col.name if name in taken else name
    return names


def expression(col: ColumnSpec) -> str:
    """The ``renamed`` CTE expression of one raw column."""
    quoted = ident(col.name)
    if col.pii == "mask":
        return f"{{{{ {mask_macro(col.name)}('{quoted}') }}}}"
    if col.pii == "redact":
        return f"{{{{ redact('{quoted}') }}}}"
    if col.pii == "hash":
        return _CASTS["text"].format(c=quoted)
    if col.money:
        return MONEY_CAST.format(c=quoted)
    return _CASTS.get(col.type, "{c}").format(c=quoted)


def describe(col: ColumnSpec, primary_key: list[str]) -> str:
    """A column's description: the manifest's, else one derived from its key and PII class."""
    if col.description:
        return col.description
    if col.name in primary_key:
        return "Primary key."
    relation = {
        "_dlt_id": "Row key (dlt's _dlt_id): child tables join on it.",
        "_dlt_parent_id": "The parent row's key (dlt's _dlt_parent_id).",
        "_dlt_list_idx": "Position in the parent's list (dlt's _dlt_list_idx).",
    }
    if col.name in relation:
        return relation[col.name]
    derived = {
        "hash": "Keyed HMAC-SHA256 pseudonym (hashed at extraction, the key never reaches dbt).",
        "mask": f"Masked in staging ({mask_macro(col.name)}).",
        "redact": "Redacted in staging to [redacted] (null stays null).",
        "keep": "Personal data kept on purpose (pii: keep).",
    }
    if col.pii in derived:
        return derived[col.pii]
    text = col.name.replace("__", " ").replace("_", " ").strip().capitalize()
    return f"{text} (UTC)." if col.type in ("timestamp", "timestamptz") else f"{text}."


def staging_sql(source: Source, model: Model, columns: list[ColumnSpec]) -> str:
    """The staging model of one source table (body only: the header is added on write)."""
    names = output_names(model, columns)
    raw = ",\n".join(f"        {ident(c.name)}" for c in columns)
    renamed = ",\n".join(f"        {expression(c)} as {ident(names[c.name])}" for c in columns)
    return (
        "with\n\n"
        "source as (\n\n"
        f"    select\n{raw}\n"
        f"    from {{{{ source('{source.name}', '{model.name}') }}}}\n\n"
        "),\n\n"
        "renamed as (\n\n"
        f"    select\n{renamed}\n"
        "    from source\n\n"
        ")\n\n"
        "select * from renamed\n"
    )


def _column_doc(col: ColumnSpec, name: str, primary_key: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "description": describe(col, primary_key)}
    if col.pii:
        doc["meta"] = {"pii": col.pii}
    return doc


class _Dumper(yaml.SafeDumper):
    """Generated YAML is for people: a value used twice is written twice, never aliased."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def sources_yml(source: Source, columns: dict[str, list[ColumnSpec]]) -> str:
    """``_<source>__sources.yml``: the raw schema, its tables and classified columns."""
    tables = []
    for name, cols in columns.items():
        model = source.models[name]
        table: dict[str, Any] = {
            "name": name,
            "description": model.description or f"Raw {name} of {source.name}, loaded by dlt.",
        }
        cursor = model.incremental.cursor if model.incremental else None
        if any(c.name == cursor and c.type in _TIME_TYPES for c in cols):
            table["config"] = {"loaded_at_field": ident(str(cursor)), "freshness": FRESHNESS}
        table["columns"] = [_column_doc(c, c.name, model.primary_key) for c in cols]
        tables.append(table)
    entry = {
        "name": source.name,
        "schema": source.name,
        "description": source.description or f"Raw tables of the {source.name} source.",
        "loader": "dlt",
        "meta": {"manifest": f"manifests/{source.name}.yml"},
        "tables": tables,
    }
    return _dump({"version": 2, "sources": [entry]})


def model_name(source: Source, model: Model) -> str:
    """``stg_<source>__<entity>s``: the manifest model name is already the plural entity."""
    return f"stg_{source.name}__{model.name}"


def _relationship(
    source: Source, references: str, columns: dict[str, list[ColumnSpec]]
) -> dict[str, Any]:
    """dbt's relationships test to the staging model of ``model[.column]`` (the manifest
    checked that the model exists; without a column, its single primary key)."""
    target_name, _, field = references.partition(".")
    target = source.models[target_name]
    field = field or target.primary_key[0]
    if target_name in columns:
        field = output_names(target, columns[target_name]).get(field, field)
    return {
        "relationships": {
            "arguments": {"to": f"ref('{model_name(source, target)}')", "field": field}
        }
    }


def models_yml(source: Source, columns: dict[str, list[ColumnSpec]]) -> str:
    """``_<source>__models.yml``: staging models with unique/not_null on primary keys."""
    models = []
    for name, cols in columns.items():
        model = source.models[name]
        names = output_names(model, cols)
        docs = []
        for col in cols:
            doc = _column_doc(col, names[col.name], model.primary_key)
            tests: list[Any] = []
            if model.primary_key == [col.name]:
                tests += ["unique", "not_null"]
            elif col.name in model.primary_key:
                tests += ["not_null"]
            if col.references:
                tests.append(_relationship(source, col.references, columns))
            if tests:
                doc["data_tests"] = tests
            docs.append(doc)
        entry: dict[str, Any] = {
            "name": model_name(source, model),
            "description": model.description or f"{name} of {source.name}, cleaned and masked.",
        }
        if len(model.primary_key) > 1:
            key = [names.get(k, k) for k in model.primary_key]
            entry["data_tests"] = [{"unique_combination": {"arguments": {"columns": key}}}]
        entry["columns"] = docs
        models.append(entry)
    return _dump({"version": 2, "models": models})
