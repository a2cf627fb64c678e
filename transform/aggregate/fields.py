"""Warn when a pipeline filters or joins on fields that no document has.

A ``$match`` or ``$lookup`` naming a field absent from every document returns nothing, or
nothing joined, without a word (the old flat pipelines did exactly that over ARM data). The
leading stages that keep document paths (``$match``, ``$lookup``, ``$unwind``, ``$sort``...)
are checked: each field they name must exist in at least one document of its collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from extract import mongo
from extract.depth import strings

PATH_KEEPING = ("$match", "$lookup", "$unwind", "$sort", "$limit", "$skip", "$sample")
LOGICAL = ("$and", "$or", "$nor")


def _expr_fields(tree: Any) -> Iterator[str]:
    """``$field`` references of an aggregation expression (``$$variables`` excluded)."""
    for text in strings(tree):
        if text.startswith("$") and not text.startswith("$$"):
            yield text[1:]


def match_fields(query: Any) -> Iterator[str]:
    """Field paths a ``$match`` query names (in plain filters and in ``$expr``)."""
    if not isinstance(query, dict):
        return
    for key, value in query.items():
        if key == "$expr":
            yield from _expr_fields(value)
        elif key in LOGICAL and isinstance(value, list):
            for item in value:
                yield from match_fields(item)
        elif not key.startswith("$"):
            yield key


def _references(
    collection: str, stages: list[dict[str, Any]]
) -> Iterator[tuple[int, str, str, str]]:
    """(stage index, stage name, collection, field) named by the leading path-keeping stages;
    fields produced by an earlier ``$lookup`` (its ``as``) are not the collection's own."""
    added: set[str] = set()
    for i, stage in enumerate(stages):
        name, body = next(iter(stage.items()))
        if name not in PATH_KEEPING:
            return
        own: list[tuple[str, str]] = []
        if name == "$match":
            own = [(collection, field) for field in match_fields(body)]
        elif name == "$lookup" and isinstance(body, dict) and "localField" in body:
            own = [
                (collection, str(body["localField"])),
                (str(body["from"]), str(body["foreignField"])),
            ]
        for coll, field in own:
            if coll != collection or field.split(".")[0] not in added:
                yield i, name, coll, field
        if name == "$lookup" and isinstance(body, dict):
            added.add(str(body.get("as")))


def missing_fields(db: str, collection: str, stages: list[dict[str, Any]]) -> list[str]:
    """One message per field named by a leading $match/$lookup that no document has."""
    messages: list[str] = []
    for i, name, coll, field in _references(collection, stages):
        if mongo.count(db, coll, {field: {"$exists": True}}) == 0:
            what = "no document" if mongo.count(db, coll) else "no document (it is empty)"
            messages.append(
                f"stage {i} ({name}) uses field '{field}' that {what} of {db}.{coll} has: "
                "the result will be empty or unjoined"
            )
    return messages
