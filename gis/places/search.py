"""Place search in SQL: the candidates for a query (places, jurisdictions among them, by their folded terms; our own
resources by their names as written), ranked by ``gis.places.ranking``; and crossings of two streets.

The query is folded like the names were (``gis.places.names.fold``). Which terms match:
- one character: only terms that begin with it (a btree in pattern order answers; a trigram says nothing yet);
- two or more: terms that begin with it, contain it (three or more), or are similar to it (pg_trgm's ``%``, a
  GIN trigram index), scored 1 for the whole term, 0.9 for a beginning (less the more is left), 0.7 inside, and
  0.8 × similarity otherwise, each times the term's worth (a name beats its pinyin, pinyin beats initials);
- a query with Chinese characters also finds the names that sound the same (its pinyin: 0.8 whole, 0.7 a
  beginning), which loads pypinyin on the first such query.
At most POOL candidates of each source reach the ranking: the best matches, of equal ones the nearest.
"""

from __future__ import annotations

import functools
import itertools
import json
import unicodedata
from collections.abc import Sequence

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from gis.places.names import Crossing, crossing_of, fold, has_han, pinyin_of, simplified
from gis.places.ranking import Candidate, metres, rank

POOL = 200
# Nodes shared by the same two streets closer than this are one crossing (the carriageways of a divided road).
ONE_CROSSING_M = 120.0

_HERE = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
_TERM_SCORE = """max(t.worth * CASE WHEN t.term = :q THEN 1.0
    WHEN left(t.term, :qlen) = :q THEN 0.9 * (0.8 + 0.2 * :qlen / greatest(length(t.term), 1))
    WHEN strpos(t.term, :q) > 0 THEN 0.7
    {spoken}
    ELSE 0.8 * similarity(t.term, :q) END)"""
# A Chinese query also meets the names that sound like it (洪星路 typed, 红星路 meant: the same pinyin, another
# character picked in the input method), below any name written with its characters.
_SPOKEN_SCORE = """WHEN t.term = :spoken THEN 0.8
    WHEN left(t.term, :slen) = :spoken THEN 0.7 * (0.8 + 0.2 * :slen / greatest(length(t.term), 1))"""
_NAME_SCORE = """CASE WHEN {col} = :raw THEN 1.0 WHEN {col} LIKE :raw_prefix ESCAPE '\\' THEN 0.9 ELSE 0.7 END"""


def _term_filter(short: bool, spoken: bool) -> str:
    if short:
        return "t.term LIKE :prefix"
    sounds = " OR t.term LIKE :spoken_prefix" if spoken else ""
    return f"(t.term LIKE :prefix OR t.term LIKE :inside OR t.term % :q{sounds})"


def _name_filter(columns: Sequence[str], short: bool) -> str:
    pattern = ":raw_prefix" if short else ":raw_inside"
    return "(" + " OR ".join(f"lower({c}) LIKE {pattern} ESCAPE '\\'" for c in columns) + ")"


@functools.cache
def candidates_sql(*, short: bool, near: bool, units: bool, spoken: bool = False) -> TextClause:
    """The candidates of places (jurisdictions among them) and resources in one statement (one round trip); fixed
    text, values bound."""
    point = f"CASE WHEN p.kind = 'street' THEN ST_ClosestPoint(p.geom, {_HERE}) ELSE p.location END"
    point = point if near else "p.location"
    # Of equal matches the pool keeps the nearest (in degrees: only an order, on the points, cheap).
    nearer = f", p.location <-> {_HERE}" if near else ""
    distance = f"ST_Distance(pt.g::geography, {_HERE}::geography)" if near else "NULL::float8"
    r_distance = f"ST_Distance(r.location::geography, {_HERE}::geography)" if near else "NULL::float8"
    units_rule = "" if units else "AND r.status IS NULL"
    r_name = "coalesce(r.name_zh, r.name)"
    term_score = _TERM_SCORE.format(spoken=_SPOKEN_SCORE if spoken else "")
    return text(f"""
    SELECT 'place' AS source, p.kind, p.type, p.name, p.name_en, p.text_score, ST_X(pt.g) AS lon, ST_Y(pt.g) AS lat,
           {distance} AS distance_m, NULL::bigint AS resource_id
    FROM (SELECT p.*, m.text_score
          FROM (SELECT t.place_id, {term_score} AS text_score FROM place_term t WHERE {_term_filter(short, spoken)}
                GROUP BY t.place_id) m
          JOIN place p ON p.id = m.place_id
          ORDER BY m.text_score DESC{nearer} LIMIT {POOL}) p
    CROSS JOIN LATERAL (SELECT {point} AS g) pt
    UNION ALL
    (SELECT 'resource', CASE WHEN r.status IS NULL THEN 'facility' ELSE 'unit' END, r.type, {r_name}, r.name_en,
           {_NAME_SCORE.format(col=f"lower({r_name})")}, ST_X(r.location), ST_Y(r.location), {r_distance}, r.id
    FROM resource r
    WHERE r.source <> 'osm' {units_rule} AND {_name_filter(["r.name", "r.name_zh", "r.name_en"], short)}
    LIMIT {POOL})
    """)


_JURISDICTION_OF = text("""
SELECT u.i, (SELECT j.name FROM jurisdiction j WHERE ST_Covers(j.geom, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326))
             ORDER BY j.area_m2 LIMIT 1) AS name
FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, i)
""")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def plain(query: str) -> str:
    """The query as a name is written, for the names we keep unfolded: simplified, lower case, single spaces, no
    control or format characters (PostgreSQL text holds no NUL)."""
    written = "".join(c for c in unicodedata.normalize("NFKC", query) if unicodedata.category(c)[0] != "C")
    return " ".join(simplified(written).lower().split())


async def find(
    session: AsyncSession, *, query: str, near: tuple[float, float] | None, limit: int, units: bool
) -> list[tuple[Candidate, str | None]]:
    """The best ``limit`` places for ``query``, each with the jurisdiction it lies in; [] when nothing matches.

    A query that reads as a crossing (``gis.places.names.crossing_of``) of two streets that both exist answers
    with their crossings only, possibly none (they never meet); one of whose two is no street answers what each
    finds as a name; otherwise it is searched as a name."""
    q = fold(query)
    if not q:
        return []
    crossing = crossing_of(query)
    if crossing is not None:
        found = await _crossings(session, crossing, near=near, limit=limit)
        if found is not None:
            return await _with_jurisdictions(session, found)
        # One of the two is no street we know (a bridge, a name the map lacks): each is searched as a name, the
        # best of each first, so the officer can take the one that is there rather than nothing.
        sides = [await find(session, query=side, near=near, limit=limit, units=units) for side in crossing]
        merged = [hit for pair in itertools.zip_longest(*sides) for hit in pair if hit is not None]
        if merged:
            return merged[:limit]
    raw = plain(query)
    values: dict[str, object] = {
        "q": q,
        "qlen": len(q),
        "prefix": _escape(q) + "%",
        "inside": "%" + _escape(q) + "%" if len(q) >= 3 else _escape(q) + "%",
        "raw": raw,
        "raw_prefix": _escape(raw) + "%",
        "raw_inside": "%" + _escape(raw) + "%",
    }
    if near is not None:
        values |= {"lon": near[0], "lat": near[1]}
    spoken = pinyin_of(query) if len(q) >= 2 and has_han(q) else None
    sounds = spoken[0] if spoken else None
    if sounds:
        values |= {"spoken": sounds, "slen": len(sounds), "spoken_prefix": _escape(sounds) + "%"}
    statement = candidates_sql(short=len(q) < 2, near=near is not None, units=units, spoken=bool(sounds))
    rows = (await session.execute(statement, values)).mappings().all()
    candidates = [
        Candidate(
            name=r["name"], kind=r["kind"], lon=r["lon"], lat=r["lat"], text_score=float(r["text_score"]),
            distance_m=r["distance_m"], type=r["type"], name_en=r["name_en"], resource_id=r["resource_id"],
        )
        for r in rows
    ]  # fmt: skip
    return await _with_jurisdictions(session, rank(candidates, limit=limit))


async def _with_jurisdictions(session: AsyncSession, found: list[Candidate]) -> list[tuple[Candidate, str | None]]:
    if not found:
        return []
    rows = await session.execute(_JURISDICTION_OF, {"xs": [c.lon for c in found], "ys": [c.lat for c in found]})
    names = {int(i): name for i, name in rows.all()}
    return [(c, names.get(i) if c.kind != "jurisdiction" else None) for i, c in enumerate(found, start=1)]


# ------------------------------------------------------------------------------------------------------- crossings
_STREETS = """SELECT DISTINCT t.place_id FROM place_term t JOIN place p ON p.id = t.place_id AND p.kind = 'street'
    WHERE t.term = :{side} OR t.term LIKE :{side}_prefix"""
_CROSSINGS = text(f"""
WITH a AS ({_STREETS.format(side="a")}), b AS ({_STREETS.format(side="b")}),
an AS (SELECT w.place_id, n.node, ST_PointN(w.geom, n.i::int) AS g FROM place_way w JOIN a ON a.place_id = w.place_id,
       unnest(w.node_ids) WITH ORDINALITY AS n(node, i)),
bn AS (SELECT w.place_id, n.node FROM place_way w JOIN b ON b.place_id = w.place_id, unnest(w.node_ids) AS n(node)),
shared AS (SELECT DISTINCT ON (an.node, an.place_id, bn.place_id) an.place_id AS a_id, bn.place_id AS b_id,
           ST_X(an.g) AS lon, ST_Y(an.g) AS lat
           FROM an JOIN bn ON an.node = bn.node AND an.place_id <> bn.place_id LIMIT 2000)
SELECT (SELECT count(*) FROM a) AS a_streets, (SELECT count(*) FROM b) AS b_streets,
       (SELECT coalesce(json_agg(json_build_object('a', pa.name, 'b', pb.name, 'pair', ARRAY[s.a_id, s.b_id],
                                                   'lon', s.lon, 'lat', s.lat)), '[]')
        FROM shared s JOIN place pa ON pa.id = s.a_id JOIN place pb ON pb.id = s.b_id) AS shared
""")


async def _crossings(
    session: AsyncSession, crossing: Crossing, *, near: tuple[float, float] | None, limit: int
) -> list[Candidate] | None:
    """Where ways of the two streets share a node, one point per crossing (nodes of the same two streets within
    ONE_CROSSING_M are one); [] when both streets exist but never meet; None when either is no street we know."""
    values = {
        "a": crossing.first, "a_prefix": _escape(crossing.first) + "%",
        "b": crossing.second, "b_prefix": _escape(crossing.second) + "%",
    }  # fmt: skip
    row = (await session.execute(_CROSSINGS, values)).mappings().one()
    if not row["a_streets"] or not row["b_streets"]:
        return None
    shared = json.loads(row["shared"]) if isinstance(row["shared"], str) else row["shared"]
    groups: list[tuple[tuple[int, int], list[tuple[float, float]], str]] = []
    for node in shared:
        pair, point = (node["pair"][0], node["pair"][1]), (node["lon"], node["lat"])
        group = next((g for g in groups if g[0] == pair and metres(g[1][0], point) < ONE_CROSSING_M), None)
        if group is None:
            groups.append((pair, [point], f"{node['a']} / {node['b']}"))
        else:
            group[1].append(point)
    found = []
    for _, points, name in groups:
        lon, lat = sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
        distance = metres(near, (lon, lat)) if near is not None else None
        found.append(Candidate(name=name, kind="crossing", lon=lon, lat=lat, text_score=1.0, distance_m=distance))
    return rank(found, limit=limit)
