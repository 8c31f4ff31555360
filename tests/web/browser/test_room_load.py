"""The command room under load, measured and reported (never asserted on timings; STYLE.md): 2,000 units and 200
incidents loaded, 20 events a second arriving (unit moves and new incidents) for 10 s, then a burst of 500 unit
moves at once. Reported: the main thread's long tasks, frame times, and the delay from an incident's creation
(its POST answered) to its row on the board (p50/p99). Asserted: the page stays consistent (every unit where the
server has it, every incident once). Runs after test_room.py (module order), on the same city: it adds units.

The figures go to tests/web/browser/screenshots/load.json and to stdout (``-s``).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.support.browser import confined_page
from tests.web.browser.conftest import SHOTS, Room
from tests.web.browser.test_room import WAIT_MS, create, shot, sign_in

UNITS = 2_000
INCIDENTS = 200
SECONDS = 10
PER_SECOND = 20
TYPES = ["ambulance", "fire_engine", "police_unit", "rescue_team", "medical_team"]
BOX = (104.00, 30.61, 104.13, 30.71)
TEXTS = ["仓库起火，无人员伤亡", "道路交通事故，2人受伤", "居民楼燃气泄漏", "河道落水一人", "商场踩踏，5人受伤"]

INSTRUMENT = """
() => {
  const perf = window.__perf = { long: [], frames: [], seen: {} };
  new PerformanceObserver((list) => { for (const e of list.getEntries()) perf.long.push(e.duration); })
    .observe({ type: "longtask" });
  let last = performance.now();
  const frame = (t) => { perf.frames.push(t - last); last = t; if (!perf.stop) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  new MutationObserver((mutations) => {
    const now = Date.now();
    for (const m of mutations) for (const n of m.addedNodes) {
      if (n.dataset && n.dataset.id && !(n.dataset.id in perf.seen)) perf.seen[n.dataset.id] = now;
    }
  }).observe(document.getElementById("board-list"), { childList: true });
}
"""


def _spot(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])


def _units_file(rng: random.Random) -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(_spot(rng))},
            "properties": {"type": TYPES[n % len(TYPES)], "name": f"负载单位 {n}", "status": "available"},
        }
        for n in range(UNITS)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def _fixes(room: Room, moves: list[tuple[int, float, float]]) -> None:
    at = datetime.now(UTC).isoformat()
    body = [{"unit_id": u, "location": {"type": "Point", "coordinates": [x, y]}, "at": at} for u, x, y in moves]
    answer = await room.api.post("/api/v1/units/locations", json=body)
    assert answer.status_code == 200, answer.text


def _shares(profile: dict[str, Any]) -> dict[str, float]:
    """Where the main thread's sampled time went, in per cent: our scripts, MapLibre's, the browser's own (native:
    style, layout, paint, WebGL calls), idle, garbage collection."""
    counts: Counter[str] = Counter()
    for node in profile["nodes"]:
        frame, hits = node["callFrame"], node.get("hitCount", 0)
        url, fn = frame["url"], frame["functionName"]
        if "/static/" in url:
            counts["ours"] += hits
        elif "maplibre" in url:
            counts["maplibre"] += hits
        elif fn == "(idle)":
            counts["idle"] += hits
        elif fn == "(garbage collector)":
            counts["gc"] += hits
        else:
            counts["native"] += hits
    total = sum(counts.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in counts.most_common()}


async def _served(room: Room) -> dict[int, tuple[float, float]]:
    """Where the server has every load unit now."""
    found: dict[int, tuple[float, float]] = {}
    offset, total = 0, 1
    while offset < total:
        page = (await room.api.get(f"/api/v1/resources?type={','.join(TYPES)}&limit=1000&offset={offset}")).json()
        total = page["total"]
        found |= {u["id"]: tuple(u["location"]["coordinates"]) for u in page["items"]}
        offset += 1000
    return found


async def test_load_is_measured_and_the_page_stays_consistent(room: Room) -> None:
    rng = random.Random(19)
    files = {"file": ("units.geojson", _units_file(rng), "application/geo+json")}
    imported = await room.api.post("/api/v1/resources/import", files=files)
    assert imported.status_code == 201, imported.text
    listed = (await room.api.get("/api/v1/resources?type=" + ",".join(TYPES) + "&limit=1000&offset=0")).json()
    units = [u for u in listed["items"] if u["name"].startswith("负载单位")]
    offset = 1000
    while offset < listed["total"]:
        more = await room.api.get(f"/api/v1/resources?type={','.join(TYPES)}&limit=1000&offset={offset}")
        units += [u for u in more.json()["items"] if u["name"].startswith("负载单位")]
        offset += 1000
    assert len(units) == UNITS
    positions = {u["id"]: tuple(u["location"]["coordinates"]) for u in units}
    open_now = (await room.api.get("/api/v1/incidents?limit=1")).json()["total"]
    for start in range(open_now, INCIDENTS, 10):
        await asyncio.gather(*(create(room, rng.choice(TEXTS), *_spot(rng)) for _ in range(min(10, INCIDENTS - start))))

    async with confined_page(room.origin) as page:
        loading = time.monotonic()
        await sign_in(page, room.origin)
        await page.page.wait_for_function(f"() => window.__commandpost.store.units.size >= {UNITS}", timeout=30_000)
        snapshot_s = time.monotonic() - loading
        await page.page.wait_for_function("() => window.__commandpost.map.loaded()", timeout=WAIT_MS)
        await page.page.evaluate(INSTRUMENT)

        cdp = await page.page.context.new_cdp_session(page.page)
        await cdp.send("Profiler.enable")
        await cdp.send("Profiler.start")
        posted: dict[int, float] = {}
        ids = list(positions)
        started = time.monotonic()
        for second in range(SECONDS):
            tick = time.monotonic()
            moves = []
            for unit in rng.sample(ids, PER_SECOND - 2):
                x, y = positions[unit]
                positions[unit] = (x + rng.uniform(-0.0002, 0.0002), y + rng.uniform(-0.0002, 0.0002))
                moves.append((unit, *positions[unit]))
            await _fixes(room, moves)
            for _ in range(2):
                made = await create(room, f"负载测试事件 {second}：{rng.choice(TEXTS)}", *_spot(rng))
                posted[made["id"]] = time.time() * 1000
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        steady_s = time.monotonic() - started
        profile = _shares((await cdp.send("Profiler.stop"))["profile"])
        await page.page.wait_for_function(
            "ids => ids.every(id => id in window.__perf.seen)", arg=[str(i) for i in posted], timeout=WAIT_MS
        )
        steady = await page.page.evaluate(
            "() => ({ long: __perf.long.splice(0), frames: __perf.frames.splice(0), seen: __perf.seen })"
        )

        # A burst: 500 units move at once.
        burst = []
        for unit in rng.sample(ids, 500):
            x, y = positions[unit]
            positions[unit] = (x + 0.0001, y + 0.0001)
            burst.append((unit, *positions[unit]))
        burst_at = time.monotonic()
        await _fixes(room, burst)
        probe = time.monotonic()
        await page.page.evaluate("() => 1")  # the page answers while the burst lands
        probe_ms = (time.monotonic() - probe) * 1000
        served = await _served(room)
        burst = [(unit, *served[unit]) for unit, _, _ in burst]
        await page.page.wait_for_function(
            """moves => moves.every(([id, x, y]) => {
                 const u = window.__commandpost.store.units.get(id);
                 const [ux, uy] = u ? u.location.coordinates : [NaN, NaN];
                 return Math.abs(ux - x) < 1e-9 && Math.abs(uy - y) < 1e-9;
               })""",
            arg=burst,
            timeout=20_000,
        )
        burst_s = time.monotonic() - burst_at
        after = await page.page.evaluate(
            "() => ({ long: window.__perf.long.splice(0), frames: window.__perf.frames.splice(0) })"
        )
        await shot(page, "load")

        # Consistent: every incident once on the board, the map's units where the server has them.
        rows = await page.page.eval_on_selector_all(".board-row", "rows => rows.map(r => r.dataset.id)")
        assert len(rows) == len(set(rows))
        total_open = (
            await room.api.get(
                "/api/v1/incidents?limit=1&status=reported&status=verified&status=responding&status=contained"
            )
        ).json()["total"]
        assert len(rows) == total_open
        stats = await page.page.evaluate("() => window.__commandpost.store.stats")

    delays = [steady["seen"][str(i)] - t for i, t in posted.items()]
    frames: list[float] = steady["frames"]
    figures: dict[str, Any] = {
        "units": UNITS,
        "incidents_open": total_open,
        "snapshot_and_sign_in_s": round(snapshot_s, 2),
        "steady": {
            "seconds": round(steady_s, 1),
            "events_per_s": PER_SECOND,
            "long_tasks": len(steady["long"]),
            "long_task_ms_max": round(max(steady["long"], default=0), 1),
            "long_task_ms_total": round(sum(steady["long"]), 1),
            "frame_ms_p50": round(_percentile(frames, 50), 1),
            "frame_ms_p99": round(_percentile(frames, 99), 1),
            "frame_ms_max": round(max(frames, default=0), 1),
            "event_to_board_ms_p50": round(statistics.median(delays), 1),
            "event_to_board_ms_p99": round(_percentile(delays, 99), 1),
        },
        "burst_500": {
            "page_answered_ms": round(probe_ms, 1),
            "all_applied_s": round(burst_s, 2),
            "long_tasks": len(after["long"]),
            "long_task_ms_max": round(max(after["long"], default=0), 1),
            "frame_ms_max": round(max(after["frames"], default=0), 1),
        },
        "main_thread_share_pct": profile,
        "store": stats,
    }
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / "load.json").write_text(json.dumps(figures, indent=2))
    print("\ncommand room under load:", json.dumps(figures, indent=2))
