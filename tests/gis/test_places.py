"""Place search: names folded into terms (pure), import-osm keeping every named thing (idempotent), and the search on
a small town of our own (exact answers) and on the real Chengdu extract (../shared/data; skipped, saying so, when
it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.settings import Settings
from gis import service
from gis.io.osm_import import import_osm
from gis.models import Jurisdiction
from gis.places import search, store
from gis.places.models import Place, PlaceTerm, PlaceWay
from gis.places.names import crossing_of, fold, pinyin_of, street_of, terms_of
from gis.places.ranking import metres
from gis.schemas import ImportLimits, LayerKind, PlaceFound, ResourceIn
from tests.gis import places_town
from tests.gis.conftest import chengdu_dir, shared_file

# --------------------------------------------------------------------------------------------------- names (pure)


def test_names_fold_to_one_form() -> None:
    assert fold("總府路") == "总府路"
    assert fold("Chunxi Road") == fold("chunxi lu") == "chunxilu"
    assert fold("  Tianfu  Square ") == "tianfuguangchang"
    assert pinyin_of("春熙路") == ("chunxilu", "cxl")
    assert pinyin_of("Chunxi Road") is None


def test_a_section_gives_its_street() -> None:
    assert street_of("红星路四段") == "红星路"
    assert street_of("春熙路东段") == "春熙路"
    assert street_of("Hongxing Lu 4th Section") == "Hongxing Lu"
    assert street_of("春熙路") is None
    terms = terms_of(["红星路四段"])
    assert terms["红星路四段"] > terms["红星路"] > terms["hongxinglu"] > terms["hxl"]


@pytest.mark.parametrize(
    ("query", "streets"),
    [
        ("总府路与红星路交叉口", ("总府路", "红星路")),
        ("总府路和红星路路口", ("总府路", "红星路")),
        ("总府路/红星路", ("总府路", "红星路")),
        ("Zongfu Road & Hongxing Road", ("zongfulu", "hongxinglu")),
        ("zongfu lu and hongxing lu", ("zongfulu", "hongxinglu")),
        # where at the crossing, as callers say it
        ("东门大桥与滨江东路交叉口北侧", ("东门大桥", "滨江东路")),
        ("总府路和红星路路口东南角", ("总府路", "红星路")),
        ("总府路与红星路交叉口附近", ("总府路", "红星路")),
        ("总府路与红星路交叉口往北50米", ("总府路", "红星路")),
    ],
)
def test_a_crossing_is_read(query: str, streets: tuple[str, str]) -> None:
    crossing = crossing_of(query)
    assert crossing is not None and (crossing.first, crossing.second) == streets


@pytest.mark.parametrize("query", ["人和街", "和平路路口", "春熙路", "H&M", "总府路和红星路", "总府路和红星路北侧"])
def test_a_name_is_no_crossing(query: str) -> None:
    assert crossing_of(query) is None


# ------------------------------------------------------------------------------------------------ the small town


@pytest.fixture
async def town(session: AsyncSession, tmp_path: Path) -> Path:
    path = places_town.write_town(tmp_path)
    await import_osm(session, path=path)
    await session.commit()
    return path


async def _search(session: AsyncSession, q: str, **kwargs: object) -> list[PlaceFound]:
    return await service.search_places(session, query=q, **kwargs)  # type: ignore[arg-type]


def _at(found: PlaceFound) -> tuple[float, float]:
    lon, lat = found.location.coordinates[:2]
    return lon, lat


@pytest.mark.parametrize("q", ["春熙路", "chunxilu", "cxl", "Chunxi Road", "chunxi road", "CHUNXILU"])
async def test_a_street_by_characters_pinyin_initials_and_english(session: AsyncSession, town: Path, q: str) -> None:
    found = await _search(session, q)
    assert (found[0].name, found[0].kind) == ("春熙路", "street")
    assert [f.name for f in found if f.kind == "street"].count("春熙路") == 1, "its two ways are one street"


async def test_traditional_characters_find_the_simplified_name(session: AsyncSession, town: Path) -> None:
    assert (await _search(session, "總府路"))[0].name == "总府路"
    assert (await _search(session, "天府廣場"))[0].name == "天府广场"
    station = (await _search(session, "Tianfu Square"))[0]
    assert (station.name, station.kind, station.type) == ("天府广场", "station", "subway")
    assert station.name_en == "Tianfu Square"


async def test_a_homophone_finds_the_street_below_the_written_name(session: AsyncSession, town: Path) -> None:
    found = await _search(session, "纯西路")  # chún xī lù: another pick in the input method
    assert found[0].name == "春熙路" and found[0].score < 1
    assert (await _search(session, "春熙路"))[0].score == 1


async def test_a_section_counts_as_its_street(session: AsyncSession, town: Path) -> None:
    found = await _search(session, "红星路")
    streets = [f.name for f in found if f.kind == "street"]
    assert sorted(streets) == ["红星路三段", "红星路四段"], "each section once (四段's two ways are one)"
    assert (await _search(session, "hongxinglu"))[0].name in {"红星路三段", "红星路四段"}


async def test_a_crossing_is_where_the_ways_share_a_node(session: AsyncSession, town: Path) -> None:
    for q in ("春熙路与总府路交叉口", "总府路/春熙路", "Chunxi Road & Zongfu Road", "cxl and zongfulu"):
        found = await _search(session, q)
        assert [f.kind for f in found] == ["crossing"]
        assert found[0].name in ("春熙路 / 总府路", "总府路 / 春熙路")
        assert metres(_at(found[0]), places_town.CROSSING) < 1


async def test_streets_that_never_meet_have_no_crossing(session: AsyncSession, town: Path) -> None:
    assert await _search(session, "春熙路与解放路交叉口") == []
    assert await _search(session, "Chunxi Road / Jiefang Road") == []


async def test_a_crossing_with_a_street_we_do_not_know_answers_the_one_we_do(session: AsyncSession, town: Path) -> None:
    """A caller names a crossing one of whose two the map lacks (a bridge, a new road): rather than nothing, what the
    known one finds as a name, so the officer can place the report near it."""
    found = await _search(session, "春熙路与不存在大道交叉口北侧")
    assert found and found[0].kind == "street" and found[0].name == "春熙路"
    assert all(f.kind != "crossing" for f in found)
    assert await _search(session, "不存在大道与也不存在路交叉口") == []


async def test_same_named_streets_apart_are_two_ranked_by_near(session: AsyncSession, town: Path) -> None:
    east = await _search(session, "人民路", near=places_town.RENMIN_EAST)
    west = await _search(session, "人民路", near=places_town.RENMIN_WEST)
    assert [f.name for f in east if f.kind == "street"] == ["人民路", "人民路"]
    assert metres(_at(east[0]), places_town.RENMIN_EAST) < 10 and metres(_at(west[0]), places_town.RENMIN_WEST) < 10
    assert east[0].score > east[1].score


async def test_of_more_equal_matches_than_kept_the_nearest_are(session: AsyncSession, tmp_path: Path) -> None:
    path, starts = places_town.write_grid(tmp_path, side=16)  # 256 streets named 人民路, more than search.POOL
    assert len(starts) > search.POOL
    await import_osm(session, path=path)
    await session.commit()
    for corner in (starts[0], starts[-1], starts[len(starts) // 2 + 3]):
        found = await _search(session, "人民路", near=corner, limit=3)
        assert metres(_at(found[0]), corner) < 10 and all(f.name == "人民路" for f in found)
        assert found[0].score > found[1].score >= found[2].score


async def test_duplicates_answer_once_and_addresses_are_found(session: AsyncSession, town: Path) -> None:
    stops = [f for f in await _search(session, "春熙路口站", limit=50) if f.name == "春熙路口站"]
    assert len(stops) == 1 and stops[0].kind == "station" and stops[0].type == "bus_stop"
    address = (await _search(session, "春熙路8号"))[0]
    assert (address.kind, address.name) == ("address", "春熙路8号")
    hospital = [f for f in await _search(session, "人民医院", limit=50) if "医院" in f.name]
    assert [(f.name, f.kind) for f in hospital] == [("四川省人民医院", "facility")], "the OSM hospital once, not twice"


async def test_one_character_finds_only_names_that_begin_with_it(session: AsyncSession, town: Path) -> None:
    found = await _search(session, "春", limit=50)
    assert found and all(f.name.startswith("春") for f in found)
    assert {f.name for f in await _search(session, "z", limit=50)} == {"总府路"}  # zongfulu, zfl


async def test_units_only_for_those_who_may_see_them(session: AsyncSession, town: Path) -> None:
    point = {"type": "Point", "coordinates": [104.061, 30.661]}
    unit = await service.create_resource(
        session, data=ResourceIn.model_validate({"type": "ambulance", "name": "救护车甲一", "location": point})
    )
    seen = [f for f in await _search(session, "救护车甲一", units=True) if f.kind == "unit"]
    assert [(f.name, f.resource_id, f.type) for f in seen] == [("救护车甲一", unit.id, "ambulance")]
    assert [f for f in await _search(session, "救护车甲一", units=False) if f.kind == "unit"] == []


async def test_bounds_are_checked_and_nothing_is_nothing(session: AsyncSession, town: Path) -> None:
    with pytest.raises(Invalid) as caught:
        await _search(session, "路" * 201)
    assert caught.value.field == "q"
    with pytest.raises(Invalid):
        await _search(session, "春熙路", limit=51)
    with pytest.raises(Invalid):
        await _search(session, "春熙路", near=(200.0, 0.0))
    assert await _search(session, "路" * 200) == []
    assert await _search(session, "  ,.;  ") == []
    assert [f.name for f in await _search(session, "\x00春熙\u200b路\U0001f525")][:1] == ["春熙路"]
    assert await _search(session, "zzzzqqqq") == []


async def test_jurisdictions_are_found_and_name_where_each_place_lies(session: AsyncSession, town: Path) -> None:
    area = shapely.box(places_town.LON - 0.01, places_town.LAT - 0.01, places_town.LON + 0.01, places_town.LAT + 0.01)
    session.add(
        Jurisdiction(
            name="迷你区", name_en="Mini District", admin_level=6, geom=from_shape(MultiPolygon([area]), srid=4326),
            source="test", external_id="mini",
        )
    )  # fmt: skip
    await session.flush()
    assert await store.index_jurisdictions(session) == 1  # what a jurisdiction import does (import-osm, import-layer)
    await session.commit()
    street = (await _search(session, "春熙路"))[0]
    assert (street.name, street.jurisdiction) == ("春熙路", "迷你区")
    far = [f for f in await _search(session, "人民路", near=places_town.RENMIN_EAST) if f.kind == "street"][0]
    assert far.jurisdiction is None, "5 km east: outside the district"
    for q in ("迷你区", "mini district", "miniqu", "mnq"):
        found = [f for f in await _search(session, q) if f.kind == "jurisdiction"]
        assert [f.name for f in found] == ["迷你区"] and shapely.Point(_at(found[0])).within(area)


async def test_reimport_changes_nothing(session: AsyncSession, town: Path) -> None:
    async def state() -> tuple[list[tuple[int, str, str]], int, int]:
        places = (await session.execute(select(Place.id, Place.external_id, Place.name).order_by(Place.id))).all()
        terms = await session.scalar(select(func.count()).select_from(PlaceTerm))
        ways = await session.scalar(select(func.count()).select_from(PlaceWay))
        return [tuple(p) for p in places], int(terms or 0), int(ways or 0)  # type: ignore[misc]

    before = await state()
    report = await import_osm(session, path=town)
    await session.commit()
    assert await state() == before
    assert report.places == len(before[0]) and len(before[0]) > 10 and before[2] == len(places_town.WAYS)


# ------------------------------------------------------------------------------------------------ the real city


@pytest.mark.shared_data
async def test_chengdu(session: AsyncSession, settings: Settings) -> None:
    await import_osm(session, path=chengdu_dir() / "chengdu_core_2018.osm.pbf")
    districts = shared_file("chengdu/chengdu_core_districts_clipped.geojson")
    limits = ImportLimits.of(settings)
    await service.import_layer(session, path=districts, kind=LayerKind.jurisdictions, limits=limits)
    await session.commit()
    tianfu = (104.0657, 30.6598)

    for q in ("春熙路", "chunxilu", "cxl", "Chunxi Road"):
        found = await _search(session, q, near=tianfu)
        assert found[0].name == "春熙路", (q, found[:3])
    assert (await _search(session, "總府路", near=tianfu))[0].name == "总府路"
    sections = {f.name for f in await _search(session, "红星路", near=tianfu, limit=20) if f.kind == "street"}
    assert {"红星路", "红星路三段", "红星路四段"} <= sections
    everywhere = await _search(session, "红星路", limit=50)
    assert len([f for f in everywhere if f.name == "红星路" and f.kind == "street"]) == 1, "its 11 ways are one"

    crossing = await _search(session, "总府路与红星路交叉口", near=tianfu)
    assert crossing and crossing[0].kind == "crossing" and "总府路" in crossing[0].name
    lon, lat = _at(crossing[0])
    assert 104.07 < lon < 104.09 and 30.65 < lat < 30.67, "central Chengdu, east of Tianfu Square"
    assert await _search(session, "春熙路与解放路交叉口") == [], "a pedestrian street downtown never meets 解放路"

    # The districts imported as a layer are found by pinyin too, and name where each answer lies.
    found = [(f.name, f.kind) for f in await _search(session, "jinjiangqu")]
    # beside the OSM node of the same name (a place); the layer names it "锦江区 (Jinjiang)"
    assert [name for name, kind in found[:2] if kind == "jurisdiction"] == ["锦江区 (Jinjiang)"], found
    assert (await _search(session, "春熙路", near=tianfu))[0].jurisdiction == "锦江区 (Jinjiang)"
