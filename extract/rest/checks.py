"""Semantic checks of ``kind: rest`` manifests, run by the loader after validation."""

from __future__ import annotations

from collections.abc import Iterator

from extract.manifest.paginator_types import Paginator
from extract.manifest.typing import Model, Source
from extract.manifest.yamlpos import KeyPath
from extract.rest.auth import auth_problems
from extract.rest.paginators import paginator_problems
from extract.rest.resources import endpoint_of, placeholders

Problem = tuple[KeyPath, str]


def _paginator(spec: Paginator | None, at: KeyPath) -> Iterator[Problem]:
    if spec is not None:
        for key, message in paginator_problems(spec):
            yield ((*at, key) if key else at), message


def _parent(source: Source, name: str, model: Model) -> Iterator[Problem]:
    at: KeyPath = ("models", name)
    known = ", ".join(sorted(source.models))
    named = sorted({ref for ref, _ in placeholders(endpoint_of(model))})
    for ref in named:
        if ref not in source.models:
            yield (
                (*at, "endpoint"),
                (f"placeholder '{{{ref}.…}}' references unknown model '{ref}' (models: {known})"),
            )
        elif model.parent and ref != model.parent:
            yield (
                (*at, "endpoint"),
                (f"placeholder '{{{ref}.…}}' must reference the parent model '{model.parent}'"),
            )
    if model.parent is None and len(named) > 1:
        yield (
            (*at, "endpoint"),
            f"placeholders name several models ({', '.join(named)}): a child model has one parent",
        )
    if model.parent is not None and model.parent not in source.models:
        yield (*at, "parent"), f"parent model '{model.parent}' does not exist (models: {known})"
    if model.parent == name:
        yield (*at, "parent"), "a model cannot be its own parent"
    if model.include_from_parent and not model.parent and not named:
        yield (*at, "include_from_parent"), "include_from_parent needs a parent model"


def _cycles(source: Source) -> Iterator[Problem]:
    for name, model in source.models.items():
        seen, current = [name], model.parent
        while current is not None and current in source.models and current != name:
            if current in seen:
                break
            seen.append(current)
            current = source.models[current].parent
        if current == name and model.parent != name:
            yield ("models", name, "parent"), f"parent cycle: {' -> '.join([*seen, name])}"


def check_rest_source(source: Source) -> Iterator[Problem]:
    """Unknown paginators, incomplete auth, unknown parents and placeholders, bad actions."""
    client = source.client
    if source.kind != "rest" or client is None:
        return
    if client.auth is not None:
        for key, message in auth_problems(client.auth):
            yield ("client", "auth", key), message
    yield from _paginator(client.paginator, ("client", "paginator"))
    for name, model in source.models.items():
        endpoint = model.endpoint
        if endpoint is not None:
            at: KeyPath = ("models", name, "endpoint")
            yield from _paginator(endpoint.paginator, (*at, "paginator"))
            for i, action in enumerate(endpoint.response_actions):
                if action.status_code is None and action.content is None:
                    yield (*at, "response_actions", i), "give status_code, content or both"
        yield from _parent(source, name, model)
    yield from _cycles(source)
