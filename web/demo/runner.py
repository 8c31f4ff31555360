"""Plays a scenario against a running service, through its public API, as the people in the room would.

The duty officer logs each report as typed; the commander activates a plan and dispatches the units the service
recommends; each crew acknowledges (one can be made late, so its escalation reaches the command room), reports en
route, drives its road route (``GET /route``) sending fixes, reports on scene, works, takes casualties to the nearest
hospital when it is an ambulance, and clears. Warnings arrive as CAP messages (``POST /cap``). Time runs ``speed``
times faster than the scenario's; a crew still drives no faster than ``MAX_KMH`` as the service sees it (fixes are
stamped with the real time they are sent, and the service rightly distrusts a car at 500 km/h).

Everything goes through HTTP with the demo users' tokens, so what the demo shows is what the service does: the
audit trail, the events, the escalations are all real.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from web.demo.scenario import Decision, Report, Scenario, WarningStep

log = logging.getLogger("commandpost.demo")

MAX_KMH = 150.0  # the plausibility check refuses more than 200 km/h
FIX_EVERY_S = 1.0  # real seconds between a moving unit's fixes
WORK_S = 120.0  # scenario seconds a crew works on scene
ACK_S = (3.0, 12.0)  # scenario seconds before a crew acknowledges


@dataclass
class Played:
    """What the run did, for the demo's log and a drill's score."""

    incidents: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, list[int]] = field(default_factory=dict)
    decisions: dict[str, float] = field(default_factory=dict)  # report id → scenario second the units went
    dispatched: int = 0
    failures: list[str] = field(default_factory=list)
    started_at: datetime | None = None  # the real time of the scenario's second 0


@dataclass(frozen=True)
class Judged:
    """One expected decision of a drill, as the room made it (or did not)."""

    incident: str
    incident_id: int | None
    expected_plan: str | None
    plans: list[str]  # activated for the incident, in order
    units: int  # dispatched to it
    decided_s: float | None  # scenario seconds from the start to the first activation or dispatch
    due_s: float | None

    @property
    def made(self) -> bool:
        return self.decided_s is not None and (self.expected_plan is None or self.expected_plan in self.plans)

    @property
    def on_time(self) -> bool:
        return self.made and (self.due_s is None or (self.decided_s or 0.0) <= self.due_s)


@dataclass(frozen=True)
class Score:
    """A drill scored against its expected decisions and due times."""

    decisions: list[Judged]

    @property
    def on_time(self) -> int:
        return sum(d.on_time for d in self.decisions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": len(self.decisions),
            "on_time": self.on_time,
            "decisions": [{**d.__dict__, "made": d.made, "on_time": d.on_time} for d in self.decisions],
        }


class Runner:
    def __init__(
        self,
        client: httpx.AsyncClient,
        scenario: Scenario,
        *,
        officer: dict[str, str],
        commander: dict[str, str],
        speed: float = 5.0,
        decide: bool = True,
        ack_deadline_s: float = 30.0,
        escalate_after_s: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.http = client
        self.scenario = scenario
        self.officer, self.commander = officer, commander
        self.speed = speed
        self.decide = decide  # False in a drill: the people in the room decide, and are scored (``score``)
        self.ack_deadline_s = ack_deadline_s
        self.escalate_after_s = escalate_after_s
        self.rng = rng or random.Random(7)
        self.played = Played()
        self._crews: set[asyncio.Task[None]] = set()
        self._loop_time = clock

    def _now(self) -> float:
        return self._loop_time() if self._loop_time else asyncio.get_running_loop().time()

    async def _sleep_scenario(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def run(self, *, wait_for_crews: bool = True) -> Played:
        started = self._now()
        self.played.started_at = datetime.now(UTC)
        for step in self.scenario.steps:
            await asyncio.sleep(max(0.0, started + step.at / self.speed - self._now()))
            try:
                if isinstance(step, Report):
                    await self._report(step)
                elif isinstance(step, Decision) and self.decide:
                    await self._decide(step, scenario_s=(self._now() - started) * self.speed)
                elif isinstance(step, WarningStep):
                    await self._warning(step)
            except (httpx.HTTPError, RuntimeError) as exc:  # one step's failure is logged; the scenario goes on
                self.played.failures.append(f"{type(step).__name__} at {step.at:g} s: {exc}")
                log.warning("demo step at %g s failed: %s", step.at, exc)
        if wait_for_crews and self._crews:
            await asyncio.gather(*self._crews, return_exceptions=True)
        return self.played

    async def score(self) -> Score:
        """Each expected decision of the scenario against what the room did, read back from the service: the plans
        activated for the incident and the units dispatched to it, and when the first of them happened."""
        assert self.played.started_at is not None, "score a scenario that has been played"
        judged: list[Judged] = []
        for step in self.scenario.steps:
            if not isinstance(step, Decision):
                continue
            incident_id = self.played.incidents.get(step.incident)
            plans: list[str] = []
            units, first = 0, None
            if incident_id is not None:
                base = f"/api/v1/incidents/{incident_id}"
                activations = (await self._call("GET", f"{base}/activations", self.commander))["items"]
                dispatches = (await self._call("GET", f"{base}/dispatches", self.commander))["items"]
                plans = [a["plan_id"] for a in activations]
                units = len(dispatches)
                times = [a["activated_at"] for a in activations] + [d["created_at"] for d in dispatches]
                if times:
                    first = min(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times)
            decided = None
            if first is not None:
                decided = round((first - self.played.started_at).total_seconds() * self.speed, 1)
            judged.append(Judged(step.incident, incident_id, step.plan, plans, units, decided, step.due))
        return Score(judged)

    async def stop(self) -> None:
        for task in self._crews:
            task.cancel()
        await asyncio.gather(*self._crews, return_exceptions=True)

    # ------------------------------------------------------------------------------------------------ the room

    async def _call(self, method: str, path: str, auth: dict[str, str], **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers={**auth, **kwargs.pop("headers", {})}, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def _expectations(self, step: Report) -> dict[str, Any]:
        """The drill's name, and the plan and due time of its decision about ``step`` (the due time as the real
        time it falls at, this run's speed applied)."""
        assert self.played.started_at is not None
        expected = self.scenario.decision_for(step.id)
        drill: dict[str, Any] = {
            "name": (self.scenario.name.get("zh") or self.scenario.name.get("en") or "drill")[:200],
            "deliveries": self.scenario.deliveries,
        }
        if expected is not None and expected.plan is not None:
            drill["plan"] = expected.plan
        if expected is not None and expected.due is not None:
            drill["decide_by"] = (self.played.started_at + timedelta(seconds=expected.due / self.speed)).isoformat()
        return drill

    async def _report(self, step: Report) -> None:
        body: dict[str, Any] = {
            "description": step.text,
            "location": {"type": "Point", "coordinates": [step.lon, step.lat]},
            "source": "demo" if not self.scenario.exercise else "drill",
            "exercise": self.scenario.exercise,
        }
        if self.scenario.exercise:  # what the drill expects of the room, scored in the incident's report
            body["drill"] = self._expectations(step)
        if step.address:
            body["address_text"] = step.address
        for name in ("category", "subtype"):
            if getattr(step, name):
                body[name] = getattr(step, name)
        key = {"Idempotency-Key": f"demo-{uuid.uuid4()}"}
        try:
            made = await self._call("POST", "/api/v1/incidents", self.officer, json=body, headers=key)
        except RuntimeError:
            if "address_text" not in body:
                raise
            body.pop("address_text")  # a service without the intake record's address field
            made = await self._call("POST", "/api/v1/incidents", self.officer, json=body, headers=key)
        self.played.incidents[step.id] = made["id"]
        log.info("demo: incident %s logged (%s)", made["id"], step.id)

    async def _decide(self, step: Decision, *, scenario_s: float) -> None:
        incident_id = self.played.incidents[step.incident]
        incident = await self._call("GET", f"/api/v1/incidents/{incident_id}", self.commander)
        plan = step.plan or next((m["plan_id"] for m in incident.get("plan_matches", [])), None)
        if plan is not None:
            await self._call(
                "POST", f"/api/v1/incidents/{incident_id}/activations", self.commander, json={"plan_id": plan}
            )
        advice = await self._call("GET", f"/api/v1/incidents/{incident_id}/recommendations", self.commander)
        units = _recommended(advice)
        if not units:
            advice = await self._call(
                "GET", f"/api/v1/incidents/{incident_id}/recommendations?type=ambulance&count=1", self.commander
            )
            units = _recommended(advice)
        dispatches = await self._dispatch(incident_id, units)
        self.played.decisions[step.incident] = scenario_s
        self.played.dispatched += len(dispatches)
        target = (incident["location"]["coordinates"][0], incident["location"]["coordinates"][1])
        for n, dispatch in enumerate(dispatches):
            late = step.late_ack is not None and n == step.late_ack
            task = asyncio.create_task(self._crew(dispatch, target, late=late))
            self._crews.add(task)
            task.add_done_callback(self._crews.discard)

    async def _dispatch(self, incident_id: int, units: list[int]) -> list[dict[str, Any]]:
        """All or nothing on the service's side: a unit taken meanwhile (409 naming it) is dropped and the rest sent."""
        while units:
            response = await self.http.post(
                f"/api/v1/incidents/{incident_id}/dispatches", json={"unit_ids": units}, headers=self.commander
            )
            if response.status_code == 201:
                made = response.json()
                return list(made["items"] if isinstance(made, dict) and "items" in made else made)
            if response.status_code != 409:
                raise RuntimeError(f"dispatch: {response.status_code} {response.text[:300]}")
            taken = [u for u in units if str(u) in response.json().get("detail", "")]
            units = [u for u in units if u not in taken] if taken else units[1:]
        return []

    async def _warning(self, step: WarningStep) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        document = step.cap.format(
            identifier=f"demo-{step.id}-{uuid.uuid4().hex[:12]}",
            sent=now.isoformat(),
            expires=(now + timedelta(hours=3)).isoformat(),
            status="Exercise" if self.scenario.exercise else "Actual",
        )
        made = await self._call(
            "POST",
            "/api/v1/cap",
            self.officer,
            content=document.encode(),
            headers={"Content-Type": "application/cap+xml"},
        )
        self.played.warnings[step.id] = [w["id"] for w in made.get("items", [])]
        log.info("demo: warning %s issued", step.id)

    # ----------------------------------------------------------------------------------------------- the crews

    async def _crew(self, dispatch: dict[str, Any], target: tuple[float, float], *, late: bool) -> None:
        unit_id, dispatch_id = dispatch["unit_id"], dispatch["id"]
        try:
            if late:
                # Past the deadline and the re-alert in real time: it escalates, and the room sees it a while.
                await asyncio.sleep(self.ack_deadline_s + self.escalate_after_s + 30)
            else:
                await self._sleep_scenario(self.rng.uniform(*ACK_S))
            await self._call("POST", f"/api/v1/dispatches/{dispatch_id}/ack", self.commander)
            await self._status(unit_id, "en_route")
            unit = await self._call("GET", f"/api/v1/resources/{unit_id}", self.commander)
            start = tuple(unit["location"]["coordinates"])
            await self._drive(unit_id, (start[0], start[1]), target)
            await self._status(unit_id, "on_scene")
            await self._sleep_scenario(WORK_S * self.rng.uniform(0.7, 1.3))
            if unit.get("type") == "ambulance":
                hospital = await self._nearest_hospital(target)
                if hospital is not None:
                    await self._status(unit_id, "transporting")
                    await self._drive(unit_id, target, hospital)
                    await self._status(unit_id, "at_hospital")
                    await self._sleep_scenario(WORK_S / 2)
            await self._status(unit_id, "available")
        except (httpx.HTTPError, RuntimeError) as exc:
            self.played.failures.append(f"unit {unit_id}: {exc}")
            log.warning("demo crew of unit %s: %s", unit_id, exc)

    async def _status(self, unit_id: int, status: str) -> None:
        await self._call("POST", f"/api/v1/units/{unit_id}/status", self.commander, json={"status": status})

    async def _nearest_hospital(self, at: tuple[float, float]) -> tuple[float, float] | None:
        found = await self._call("GET", f"/api/v1/resources?type=hospital&near={at[0]},{at[1]}&limit=1", self.commander)
        items = found.get("items", []) if isinstance(found, dict) else found
        if not items:
            return None
        lon, lat = items[0]["location"]["coordinates"]
        return (lon, lat)

    async def _drive(self, unit_id: int, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Along the road route, in real time ``speed`` times faster than the route's duration, but never faster
        than ``MAX_KMH``: a fix every ``FIX_EVERY_S``."""
        route = await self._call(
            "GET", f"/api/v1/route?from={start[0]},{start[1]}&to={end[0]},{end[1]}", self.commander
        )
        line = route["geometry"]["coordinates"]
        properties = route.get("properties", {})
        metres = float(properties.get("distance_m") or 0.0)
        seconds = max(float(properties.get("duration_s") or 0.0) / self.speed, metres / (MAX_KMH / 3.6), 2.0)
        lengths = _cumulative(line)
        ticks = max(1, int(seconds / FIX_EVERY_S))
        for tick in range(1, ticks + 1):
            await asyncio.sleep(seconds / ticks)
            lon, lat = _along(line, lengths, tick / ticks)
            body = {"type": "Point", "coordinates": [lon, lat], "at": datetime.now(UTC).isoformat()}
            await self._call("POST", f"/api/v1/units/{unit_id}/location", self.commander, json=body)


def _recommended(advice: Any) -> list[int]:
    """The units the service ranks first for each requirement, as many as it needs, each unit once."""
    chosen: list[int] = []
    groups = advice.get("requirements", []) if isinstance(advice, dict) else []
    for group in groups:
        wanted = int(group.get("missing") or 0)
        for candidate in group.get("units", []):
            if wanted <= 0:
                break
            if candidate["unit_id"] not in chosen:
                chosen.append(candidate["unit_id"])
                wanted -= 1
    return chosen[:8]


def _cumulative(line: list[list[float]]) -> list[float]:
    import math

    total, out = 0.0, [0.0]
    for (x0, y0), (x1, y1) in zip(line, line[1:], strict=False):
        dx = (x1 - x0) * math.cos(math.radians((y0 + y1) / 2))
        total += math.hypot(dx, y1 - y0)
        out.append(total)
    return out


def _along(line: list[list[float]], lengths: list[float], fraction: float) -> tuple[float, float]:
    if len(line) == 1 or lengths[-1] == 0:
        return (line[-1][0], line[-1][1])
    goal = fraction * lengths[-1]
    for i in range(1, len(line)):
        if lengths[i] >= goal:
            span = lengths[i] - lengths[i - 1] or 1.0
            t = (goal - lengths[i - 1]) / span
            return (
                line[i - 1][0] + t * (line[i][0] - line[i - 1][0]),
                line[i - 1][1] + t * (line[i][1] - line[i - 1][1]),
            )
    return (line[-1][0], line[-1][1])
