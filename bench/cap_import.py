"""Importing CAP messages: 1,000 distinct real-sized messages (bilingual, polygons and geocodes, 2–12 KB; one of
800 KB, a national-scale warning with detailed polygons), each imported once

- through the service (``incidents.service.import_cap``: safe parse, XSD, rules, signature check, event mapping,
  area geometry, references, the warning row and its event, COMMIT), and
- through HTTP (``POST /api/v1/cap`` on a real ``commandpost serve``), and beside them

the floor, measured in the same run on the same messages: lxml parsing the message, validating it against the XSD
and one INSERT … COMMIT of a row with its geometry (asyncpg, the polygons as WKT).

    .venv/bin/python -m bench.cap_import [--n 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import asyncpg
import httpx
from lxml import etree

from bench._common import admin_token, asyncpg_dsn, bench_database, print_table, server, summary_ms
from core.db import create_engine, create_sessionmaker
from core.settings import get_settings
from incidents import service
from notify.service import CAP_SCHEMA_PATH

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_C = "{" + CAP_NS + "}"
EVENTS = [("暴雨", "Rainstorm", "Met"), ("大风", "Gale", "Met"), ("地震", "Earthquake", "Geo"), ("高温", "Heat", "Met")]
COLOURS = [("Extreme", "红色"), ("Severe", "橙色"), ("Moderate", "黄色"), ("Minor", "蓝色")]


def _ring(lat: float, lon: float, r: float, points: int) -> str:
    import math

    pts = [
        f"{lat + r * math.sin(2 * math.pi * i / points):.5f},{lon + r * math.cos(2 * math.pi * i / points):.5f}"
        for i in range(points)
    ]
    return " ".join([*pts, pts[0]])


def _area(lang: str, k: int, points: int, rng: random.Random) -> str:
    lat, lon = 30.2 + rng.random(), 103.6 + rng.random()
    codes = "".join(
        f"<geocode><valueName>GB/T 2260</valueName><value>5101{(k * 7 + j) % 100:02d}</value></geocode>"
        for j in range(3)
    )
    return (
        f"<area><areaDesc>{'成都市第' + str(k) + '片区' if lang == 'zh-CN' else 'Chengdu zone ' + str(k)}</areaDesc>"
        f"<polygon>{_ring(lat, lon, 0.05 + 0.02 * rng.random(), points)}</polygon>{codes}</area>"
    )


def message(i: int, *, areas: int = 2, points: int = 40) -> bytes:
    """Message ``i``: an Alert in zh-CN and en, like a city meteorological service's, with ``areas`` polygons of
    ``points`` vertices each (the same areas in both languages)."""
    rng = random.Random(i)
    zh, en, category = EVENTS[i % len(EVENTS)]
    severity, colour = COLOURS[i % len(COLOURS)]
    area_zh = "".join(_area("zh-CN", k, points, random.Random(i * 100 + k)) for k in range(areas))
    area_en = "".join(_area("en", k, points, random.Random(i * 100 + k)) for k in range(areas))

    def info(lang: str, event: str, headline: str, description: str, shapes: str) -> str:
        return (
            f"<info><language>{lang}</language><category>{category}</category><event>{event}</event>"
            f"<responseType>Prepare</responseType><urgency>Expected</urgency><severity>{severity}</severity>"
            "<certainty>Likely</certainty><effective>2026-12-07T10:00:00+08:00</effective>"
            "<expires>2099-12-08T10:00:00+08:00</expires><senderName>成都市气象台</senderName>"
            f"<headline>{headline}</headline><description>{description}</description>"
            "<instruction>请注意防范，减少户外活动。</instruction>"
            f"<parameter><valueName>seq</valueName><value>{rng.randint(1, 10**6)}</value></parameter>{shapes}</info>"
        )

    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{CAP_NS}">'
        f"<identifier>bench-{i:06d}</identifier><sender>cdmb@weather.example.cn</sender>"
        "<sent>2026-12-07T10:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
        + info("zh-CN", zh, f"成都市气象台发布{zh}{colour}预警", f"预计未来24小时成都市将出现{zh}天气。" * 6, area_zh)
        + info(
            "en", en, f"{en} warning for Chengdu", f"{en} is expected in Chengdu in the next 24 hours. " * 6, area_en
        )
        + "</alert>"
    )
    return body.encode()


def messages(n: int) -> list[bytes]:
    """``n`` distinct messages: mostly 2–12 KB, one of about 800 KB among them."""
    out = [message(i, areas=1 + i % 4, points=20 + (i * 37) % 80) for i in range(n)]
    out[n // 2] = message(n // 2, areas=16, points=1500)
    return out


class Floor:
    """lxml parse + XSD + one INSERT … COMMIT with the geometry: the least an import can do."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        self.schema = etree.XMLSchema(etree.parse(str(CAP_SCHEMA_PATH)))

    async def run(self, data: bytes) -> None:
        root = etree.fromstring(data, self.parser)
        if not self.schema.validate(root):
            raise RuntimeError(str(self.schema.error_log))
        rings = []
        for text in root.iterfind(f"{_C}info/{_C}area/{_C}polygon"):
            pairs = [p.split(",") for p in (text.text or "").split()]
            rings.append("((" + ",".join(f"{lon} {lat}" for lat, lon in pairs) + "))")
        wkt = "MULTIPOLYGON(" + ",".join(rings) + ")"
        async with self.conn.transaction():
            await self.conn.execute(
                "INSERT INTO cap_floor (identifier, area) VALUES ($1, ST_GeomFromText($2, 4326))",
                root.findtext(f"{_C}identifier"),
                wkt,
            )


async def main(n: int) -> None:
    corpus = messages(n)
    sizes = sorted(len(m) for m in corpus)
    print(f"{n} messages: median {sizes[n // 2] / 1024:.1f} KB, largest {sizes[-1] / 1024:.0f} KB")
    async with bench_database("cap") as url:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        await conn.execute("CREATE TABLE cap_floor (id bigserial PRIMARY KEY, identifier text, area geometry)")
        floor = Floor(conn)
        settings = get_settings().model_copy(update={"database_url": url})
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        floor_s: list[float] = []
        service_s: list[float] = []
        big_floor = big_service = 0.0
        for i, data in enumerate(corpus):  # interleaved: both see the same machine at the same moment
            t0 = time.perf_counter()
            await floor.run(data)
            t1 = time.perf_counter()
            async with sessions() as session:
                result = await service.import_cap(
                    session, document=data, actor="bench", max_bytes=settings.cap_max_kb * 1024
                )
                await session.commit()
            t2 = time.perf_counter()
            assert result.created
            floor_s.append(t1 - t0)
            service_s.append(t2 - t1)
            if i == n // 2:
                big_floor, big_service = t1 - t0, t2 - t1
        await engine.dispose()
        await conn.execute("TRUNCATE warning CASCADE")
        print_table(
            "CAP import, one message at a time",
            [("floor: lxml parse + XSD + INSERT…COMMIT", summary_ms(floor_s)), ("service: import_cap + COMMIT",
             summary_ms(service_s))],
            floor="floor: lxml parse + XSD + INSERT…COMMIT",
        )  # fmt: skip
        print(f"  the 800 KB message: floor {big_floor * 1000:.1f} ms, service {big_service * 1000:.1f} ms")

        http_s: list[float] = []
        with server(url) as base:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                auth = {**(await admin_token(client)), "Content-Type": "application/cap+xml"}
                for data in corpus:
                    t0 = time.perf_counter()
                    response = await client.post("/api/v1/cap", content=data, headers=auth)
                    http_s.append(time.perf_counter() - t0)
                    assert response.status_code == 201, response.text[:300]
        await conn.close()
        print_table(
            "CAP import over HTTP (POST /api/v1/cap, a real server, one client)",
            [("floor (above)", summary_ms(floor_s)), ("POST /api/v1/cap", summary_ms(http_s))],
            floor="floor (above)",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    asyncio.run(main(parser.parse_args().n))
