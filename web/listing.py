"""The list conventions of API.md: ``limit`` (default 100, clamped to 1,000 — never a 422 for being large),
``offset``, ``{"items": [...], "total": n}``, and GeoJSON with ``?format=geojson``; plus query parsing that
reports the field it could not read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from core.bounds import PG_INT_MAX, ascii_whole_number
from core.errors import Invalid
from core.geojson import FeatureCollectionOut, parse_bbox, parse_lon_lat

MAX_LIMIT = 1000
Item = TypeVar("Item", bound=BaseModel)


class ListOf(BaseModel, Generic[Item]):
    """A list answer: ``{"items": [...], "total": n}``, its items one of the packages' response models (the
    OpenAPI document names it ``ListOf_DispatchOut_`` and so on)."""

    items: list[Item]
    total: int


def list_of(items: Sequence[Item], total: int | None = None) -> ListOf[Item]:
    """The list answer of ``items``; ``total``: how many match in all (default: these)."""
    return ListOf(items=list(items), total=len(items) if total is None else total)


class FeaturePage(FeatureCollectionOut):
    """A list answer with ``?format=geojson``: a FeatureCollection that keeps the list's ``total``."""

    total: int


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def _page(
    limit: Annotated[int, Query(ge=1, description="at most 1,000; larger values are clamped")] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page:
    return Page(limit=min(limit, MAX_LIMIT), offset=offset)


PageDep = Annotated[Page, Depends(_page)]
FormatParam = Annotated[Literal["json", "geojson"], Query(alias="format")]
# Query strings have their bounds too (the values go into SQL parameters and error messages).
BboxQuery = Annotated[str | None, Query(max_length=200, description="minlon,minlat,maxlon,maxlat")]
KeyQuery = Annotated[str | None, Query(max_length=64)]
KeysQuery = Annotated[str | None, Query(max_length=1000, description="keys separated by commas")]


def bbox_param(value: str | None, *, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """A bbox query value, or Invalid naming the field."""
    if value is None:
        return None
    try:
        return parse_bbox(value, field=field)
    except ValueError as exc:
        raise Invalid(str(exc), field=field) from None


def lon_lat_param(value: str | None, *, field: str) -> tuple[float, float] | None:
    """A ``lon,lat`` query value, or Invalid naming the field."""
    if value is None:
        return None
    try:
        return parse_lon_lat(value, field=field)
    except ValueError as exc:
        raise Invalid(str(exc), field=field) from None


def if_match_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header names (``3``, ``"3"`` or ``W/"3"``)."""
    if if_match is None:
        return None
    version = ascii_whole_number(if_match.strip().removeprefix("W/").strip('"'), maximum=PG_INT_MAX)
    if version is None:
        raise Invalid('If-Match must carry the version number you read, e.g. If-Match: "3"', field="If-Match")
    return version
