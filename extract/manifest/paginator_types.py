"""Paginator blocks: one typed model per built-in style, chosen by ``type`` (a tagged union,
as dlt's rest_api typing does), plus an open model for styles added with
``extract.rest.register_paginator``.

A built-in style refuses keys it does not read and fills its defaults here, so a manifest
error names the key (``client.paginator.limit: required key is missing``). A registered
style keeps its extra keys; the registry checks them against the keys it declared.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from extract.manifest.strict import Strict


class _Paginator(Strict):
    """Stop rules every style accepts (applied by the page walk, not by the paginator)."""

    has_more_path: str | None = None
    stop_after_empty_page: bool | None = None
    max_pages: int | None = Field(default=None, gt=0)


class OffsetPaginatorConfig(_Paginator):
    """``?offset=&limit=`` pages; ``total_path`` names the record count in the response."""

    type: Literal["offset"]
    limit: int = Field(gt=0, description="the page size")
    offset_param: str = "offset"
    limit_param: str = "limit"
    total_path: str | None = None


class PageNumberPaginatorConfig(_Paginator):
    """``?page=`` pages from ``base_page``; the end is a page or record total, or an empty page."""

    type: Literal["page_number"]
    page_param: str = "page"
    base_page: int = 1
    total_pages_path: str | None = None
    total_path: str | None = None
    limit: int | None = Field(default=None, gt=0)
    limit_param: str | None = None

    @model_validator(mode="after")
    def _one_total(self) -> PageNumberPaginatorConfig:
        if self.total_path and self.total_pages_path:
            raise ValueError("give total_pages_path (pages) or total_path (records), not both")
        return self


class CursorPaginatorConfig(_Paginator):
    """A cursor read from ``cursor_path``, sent back as a parameter or in the JSON body."""

    type: Literal["cursor"]
    cursor_path: str = "cursors.next"
    cursor_param: str | None = None
    cursor_body_path: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> CursorPaginatorConfig:
        if self.cursor_param and self.cursor_body_path:
            raise ValueError("give cursor_param or cursor_body_path, not both")
        return self


class JsonLinkPaginatorConfig(_Paginator):
    """The next page's full URL at ``next_url_path`` in the response body."""

    type: Literal["json_link"]
    next_url_path: str = "next"


class HeaderLinkPaginatorConfig(_Paginator):
    """The next page's URL in the ``Link: <...>; rel="next"`` header."""

    type: Literal["header_link"]


class SinglePagePaginatorConfig(_Paginator):
    """One request, one page."""

    type: Literal["single_page"]


class AutoPaginatorConfig(_Paginator):
    """Let dlt detect the style from the first response."""

    type: Literal["auto"]


STYLES = ("offset", "page_number", "cursor", "json_link", "header_link", "single_page", "auto")


class RegisteredPaginatorConfig(_Paginator):
    """A style added with ``register_paginator``: its own keys are kept for its factory."""

    model_config = ConfigDict(extra="allow")
    # in the JSON Schema, a built-in name never matches here (``oneOf`` needs one member)
    type: str = Field(json_schema_extra={"not": {"enum": list(STYLES)}})


_MODELS = (
    OffsetPaginatorConfig,
    PageNumberPaginatorConfig,
    CursorPaginatorConfig,
    JsonLinkPaginatorConfig,
    HeaderLinkPaginatorConfig,
    SinglePagePaginatorConfig,
    AutoPaginatorConfig,
)
BUILT_IN: dict[str, type[_Paginator]] = dict(zip(STYLES, _MODELS, strict=True))
REGISTERED = "registered"


def tag(style: str) -> str:
    """The union tag of a style (pydantic puts it in an error's location; the loader drops
    location parts holding ``[``)."""
    return f"paginator[{style if style in BUILT_IN else REGISTERED}]"


def _tag_of(value: Any) -> str:
    style = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return tag(str(style))


Paginator = Annotated[
    Annotated[OffsetPaginatorConfig, Tag(tag("offset"))]
    | Annotated[PageNumberPaginatorConfig, Tag(tag("page_number"))]
    | Annotated[CursorPaginatorConfig, Tag(tag("cursor"))]
    | Annotated[JsonLinkPaginatorConfig, Tag(tag("json_link"))]
    | Annotated[HeaderLinkPaginatorConfig, Tag(tag("header_link"))]
    | Annotated[SinglePagePaginatorConfig, Tag(tag("single_page"))]
    | Annotated[AutoPaginatorConfig, Tag(tag("auto"))]
    | Annotated[RegisteredPaginatorConfig, Tag(tag(REGISTERED))],
    Discriminator(_tag_of),
]


def model_for(location_part: object) -> type[_Paginator] | None:
    """The paginator model a union tag in an error location stands for."""
    models: dict[str, type[_Paginator]] = {**BUILT_IN, REGISTERED: RegisteredPaginatorConfig}
    for style, model in models.items():
        if location_part == f"paginator[{style}]":
            return model
    return None
