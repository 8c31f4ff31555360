"""The soak's offered load, through nginx over TLS like every real client: incidents (at a rate, with bursts),
units moving (a fix each every few seconds), plans activated, dispatches, acknowledgements (some late, so the sweep
re-alerts and escalates), units released, notes, and the reads a screen makes. Every answer is kept (route, when, how
long, status), and every write that was answered with its id, for the checks (bench/_soak_check.py).

Writes that carry an ``Idempotency-Key`` (incidents, notes) are retried through a fault as a phone's queue would
retry them; the others are not (a retried dispatch would be refused 409 anyway)."""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench._common import CENTRE

SPAN = 0.06  # degrees around the centre where incidents happen and units move (about 12 by 13 km)
TYPES = ("ambulance", "fire_engine", "police_unit", "rescue_team")
TEXTS = (
    "二环路两车相撞，1人受伤",
    "居民楼厨房起火，浓烟",
    "Gas smell in a restaurant basement, staff evacuated",
    "工地脚手架倒塌，2人被困",
    "Chemical drum leaking at a warehouse loading dock",
    "河边有人落水",
)


@dataclass
class Calls:
    """Every answer: route, start (epoch s), latency (s), status (0: no answer)."""

    rows: list[tuple[str, float, float, int]] = field(default_factory=list)
    incidents: dict[str, int] = field(default_factory=dict)  # idempotency key → incident id (answered)
    incident_keys: set[str] = field(default_factory=set)  # every key tried
    notes: dict[str, int] = field(default_factory=dict)  # key → note id (answered)
    fixes: list[int] = field(default_factory=list)  # fix ids answered
    dispatches: list[int] = field(default_factory=list)  # dispatch ids answered
    acks: list[int] = field(default_factory=list)  # dispatch ids whose ack was answered 200
    activations: list[int] = field(default_factory=list)  # activation ids answered


class Load:
    """The clients' side: one HTTP/1.1 connection pool through nginx, an admin's token, the units it moves. The
    pool is large, so that a slow answer never holds up the next call in this process (an open loop)."""

    def __init__(self, base_url: str, tls: Any, calls: Calls) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            verify=tls,
            timeout=15,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
        )
        self.calls = calls
        self.headers: dict[str, str] = {}
        self.units: dict[int, list[float]] = {}  # unit id → [lon, lat, heading]
        self.free: list[int] = []  # units this load may dispatch
        self.recent: list[tuple[int, list[dict[str, Any]]]] = []  # (incident id, plan matches), newest last
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False

    async def call(self, route: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        headers = self.headers | kwargs.pop("headers", {})
        started, clock = time.time(), time.perf_counter()
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError:
            self.calls.rows.append((route, started, time.perf_counter() - clock, 0))
            return None
        self.calls.rows.append((route, started, time.perf_counter() - clock, response.status_code))
        return response

    async def sign_in(self, username: str, password: str) -> str:
        response = await self.http.post("/api/v1/auth/token", data={"username": username, "password": password})
        response.raise_for_status()
        return str(response.json()["access_token"])

    # -------------------------------------------------------------------------------------------- set-up

    async def set_up(self, admin_password: str, *, units: int, crews: int, hook: str) -> list[tuple[int, str]]:
        """Units (with a member contact each, whose webhook is ``hook``), commanders on duty with the same hook,
        and ``crews`` field users bound to the first units; their (unit id, token). A few at a time."""
        self.headers = {"Authorization": f"Bearer {await self.sign_in('admin', admin_password)}"}
        rng = random.Random(7)
        places = [(CENTRE[0] + rng.uniform(-SPAN, SPAN), CENTRE[1] + rng.uniform(-SPAN, SPAN)) for _ in range(units)]
        gate = asyncio.Semaphore(8)

        async def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                made = await self.http.post(url, json=body, headers=self.headers)
                made.raise_for_status()
                return dict(made.json())

        async def unit(n: int, lon: float, lat: float) -> int:
            body = {"type": TYPES[n % len(TYPES)], "name": f"soak unit {n}", "location": _point(lon, lat)}
            unit_id = int((await post("/api/v1/resources", body | {"status": "available"}))["id"])
            contact = {"name": f"crew of {n}", "unit_id": unit_id, "channels": [{"type": "webhook", "address": hook}]}
            await post("/api/v1/contacts", contact)
            return unit_id

        made = await asyncio.gather(*(unit(n, lon, lat) for n, (lon, lat) in enumerate(places)))
        for unit_id, (lon, lat) in zip(made, places, strict=True):
            self.units[unit_id] = [lon, lat, rng.uniform(0, 2 * math.pi)]
        for n in range(2):
            channels = [{"type": "webhook", "address": hook}]
            await post("/api/v1/contacts", {"name": f"commander {n}", "roles": ["commander"], "channels": channels})

        async def crew(unit_id: int) -> tuple[int, str]:
            password = secrets.token_urlsafe(12)
            user = {"username": f"crew{unit_id}", "role": "field_unit", "unit_id": unit_id, "password": password}
            await post("/api/v1/users", user)
            async with gate:
                return unit_id, await self.sign_in(f"crew{unit_id}", password)

        crews_out = list(await asyncio.gather(*(crew(unit_id) for unit_id in made[:crews])))
        self.free = list(self.units)
        return crews_out

    # ---------------------------------------------------------------------------------------------- writes

    async def incident(self, n: int, *, retries: int = 8, at: tuple[float, float] | None = None) -> int | None:
        """Log an incident (retried with its key through a fault); its id when answered."""
        key = f"soak-{n}-{secrets.token_hex(4)}"
        self.calls.incident_keys.add(key)
        lon, lat = at or (CENTRE[0] + random.uniform(-SPAN, SPAN), CENTRE[1] + random.uniform(-SPAN, SPAN))
        body = {"description": f"{random.choice(TEXTS)} [{key}]", "location": _point(lon, lat)}
        for attempt in range(retries):
            response = await self.call(
                "POST /incidents", "POST", "/api/v1/incidents", json=body, headers={"Idempotency-Key": key}
            )
            if response is not None and response.status_code in (200, 201):
                made = response.json()
                self.calls.incidents[key] = int(made["id"])
                self.recent.append((int(made["id"]), made.get("plan_matches") or []))
                del self.recent[:-200]
                return int(made["id"])
            if response is not None and response.status_code < 500 and response.status_code != 429:
                return None  # refused: retrying would not help
            await asyncio.sleep(min(0.5 * 2**attempt, 4))
        return None

    async def note(self, n: int) -> None:
        if not self.recent:
            return
        incident_id = random.choice(self.recent[-50:])[0]
        key = f"note-{n}-{secrets.token_hex(4)}"
        for attempt in range(5):
            response = await self.call(
                "POST /incidents/{id}/notes",
                "POST",
                f"/api/v1/incidents/{incident_id}/notes",
                json={"text": f"现场反馈 {n} [{key}]"},
                headers={"Idempotency-Key": key},
            )
            if response is not None and response.status_code in (200, 201):
                self.calls.notes[key] = int(response.json()["id"])
                return
            if response is not None and response.status_code < 500:
                return
            await asyncio.sleep(min(0.5 * 2**attempt, 4))

    async def fix(self, unit_id: int) -> None:
        """The unit moves on (about 10 m/s, turning a little, kept inside the area) and reports where it is."""
        lon, lat, heading = self.units[unit_id]
        heading += random.uniform(-0.5, 0.5)
        lon, lat = lon + 0.001 * math.cos(heading), lat + 0.0008 * math.sin(heading)
        if abs(lon - CENTRE[0]) > SPAN or abs(lat - CENTRE[1]) > SPAN:
            heading += math.pi
        self.units[unit_id] = [lon, lat, heading]
        body = _point(lon, lat) | {"at": datetime.now(UTC).isoformat()}
        response = await self.call("POST /units/{id}/location", "POST", f"/api/v1/units/{unit_id}/location", json=body)
        if response is not None and response.status_code == 200:
            self.calls.fixes.append(int(response.json()["fix"]["id"]))

    async def activate(self, incident_id: int, matches: list[dict[str, Any]]) -> None:
        if not matches:
            return
        body = {"plan_id": matches[0]["plan_id"]}
        response = await self.call(
            "POST /incidents/{id}/activations", "POST", f"/api/v1/incidents/{incident_id}/activations", json=body
        )
        if response is not None and response.status_code == 201:
            self.calls.activations.append(int(response.json()["id"]))

    async def dispatch(self, incident_id: int, *, ack_after: float | None, release_after: float) -> None:
        """Send a free unit; acknowledge after ``ack_after`` seconds (None: never); release it later."""
        if not self.free:
            return
        unit_id = self.free.pop(random.randrange(len(self.free)))
        try:
            response = await self.call(
                "POST /incidents/{id}/dispatches",
                "POST",
                f"/api/v1/incidents/{incident_id}/dispatches",
                json={"unit_ids": [unit_id]},
            )
            if response is not None and response.status_code == 201:
                dispatch_id = int(response.json()["items"][0]["id"])
                self.calls.dispatches.append(dispatch_id)
                if ack_after is not None:
                    await asyncio.sleep(ack_after)
                    acked = await self.call(
                        "POST /dispatches/{id}/ack", "POST", f"/api/v1/dispatches/{dispatch_id}/ack"
                    )
                    if acked is not None and acked.status_code == 200:
                        self.calls.acks.append(dispatch_id)
            await asyncio.sleep(release_after)
            await self.call(
                "POST /units/{id}/status", "POST", f"/api/v1/units/{unit_id}/status", json={"status": "available"}
            )
        finally:
            self.free.append(unit_id)

    # ---------------------------------------------------------------------------------------------- loops

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def incidents_loop(
        self,
        rate: float,
        burst_rate: float,
        burst_every: float,
        burst_s: float,
        plan_share: float,
        dispatch_share: float,
        late_share: float,
        late_ack_s: float,
    ) -> None:
        """Incidents in an open loop at ``rate``, ``burst_rate`` for ``burst_s`` every ``burst_every`` s; a share
        of them get a plan activated and a unit sent (acknowledged in time, late, or never)."""
        started, n, due = time.monotonic(), 0, time.monotonic()
        while not self.stopping:
            elapsed = time.monotonic() - started
            in_burst = burst_every > 0 and (elapsed % burst_every) > burst_every - burst_s
            due += 1 / (burst_rate if in_burst else rate)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            n += 1
            self.spawn(self._incident_then(n, plan_share, dispatch_share, late_share, late_ack_s))

    async def _incident_then(
        self, n: int, plan_share: float, dispatch_share: float, late_share: float, late_ack_s: float
    ) -> None:
        incident_id = await self.incident(n)
        if incident_id is None or self.stopping:
            return
        matches = self.recent[-1][1] if self.recent and self.recent[-1][0] == incident_id else []
        if random.random() < plan_share:
            await asyncio.sleep(random.uniform(0.5, 2))
            await self.activate(incident_id, matches)
        if random.random() < dispatch_share:
            await asyncio.sleep(random.uniform(0.5, 2))
            roll = random.random()
            ack = None if roll < 0.05 else late_ack_s if roll < 0.05 + late_share else random.uniform(1, 3)
            await self.dispatch(incident_id, ack_after=ack, release_after=random.uniform(10, 20))

    async def fixes_loop(self, every_s: float) -> None:
        """Each unit reports every ``every_s`` seconds, the units spread evenly over the period."""
        units = list(self.units)
        step = every_s / max(1, len(units))
        due = time.monotonic()
        while not self.stopping:
            for unit_id in units:
                due += step
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if self.stopping:
                    return
                self.spawn(self.fix(unit_id))

    async def every(self, rate: float, make: Any) -> None:
        """``make(n)`` started ``rate`` times a second (an open loop)."""
        due, n = time.monotonic(), 0
        while not self.stopping:
            due += 1 / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            n += 1
            self.spawn(make(n))

    async def read(self, route: str, url: str, client: httpx.AsyncClient | None = None) -> None:
        if client is None:
            await self.call(route, "GET", url)
            return
        started, clock = time.time(), time.perf_counter()
        try:
            status = (await client.get(url)).status_code
        except httpx.HTTPError:
            status = 0
        self.calls.rows.append((route, started, time.perf_counter() - clock, status))

    async def stop(self, grace_s: float = 20) -> None:
        """No new calls; the ones in flight (and the dispatches' acks and releases) are given ``grace_s``."""
        self.stopping = True
        if self.tasks:
            _, late = await asyncio.wait(set(self.tasks), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def close(self) -> None:
        await self.http.aclose()


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
