"""Place search (API.md "Places and notes"): thin; gis finds, command's rule says whether units may be among them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from command import service as command
from core.users import Role
from gis import service
from gis.schemas import PLACE_LIMIT_MAX, PLACE_QUERY_MAX, PlaceFound
from web.deps import CurrentUser, SessionDep, caller_of, require
from web.listing import ListOf, list_of, lon_lat_param

router = APIRouter(tags=["places"])
# Those who place incidents and watch the map, and a field unit (it may look up an address; it finds no units).
Searcher = Annotated[CurrentUser, Depends(require(Role.duty_officer, Role.commander, Role.observer, Role.field_unit))]


@router.get("/places", name="places.search", response_model=ListOf[PlaceFound], response_model_exclude_none=True)
async def search_places(
    session: SessionDep,
    user: Searcher,
    q: Annotated[str, Query(min_length=1, max_length=PLACE_QUERY_MAX, description="what was typed")],
    near: Annotated[str | None, Query(max_length=100, description="lon,lat: nearer places rank higher")] = None,
    limit: Annotated[int, Query(ge=1, le=PLACE_LIMIT_MAX)] = 10,
) -> ListOf[PlaceFound]:
    """Streets, crossings ("A与B交叉口", "A/B", "A & B"), named places, facilities, addresses, stations,
    jurisdictions and our own resources, by characters, pinyin (full or initials), English or traditional
    characters; best first. A one-character query finds only names that begin with it; a query longer than
    200 characters is refused (422). Units are found only by roles that may see every unit's position."""
    found = await service.search_places(
        session,
        query=q,
        near=lon_lat_param(near, field="near"),
        limit=limit,
        units=command.may_see_units(caller_of(user)),
    )
    return list_of(found)  # API.md: a JSON list endpoint answers {"items": [...], "total": n}
