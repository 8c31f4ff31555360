"""``commandpost demo``: a real city that moves, on a fresh clone, in one command.

It makes (or, by default, remakes) a database of its own (``commandpost_demo`` beside the configured one), loads the
shipped Chengdu core extract and its districts (web/demo/city, OpenStreetMap data under the ODbL) or ``--osm`` /
``--districts`` of another city, places units at its stations and hospitals, loads the plan library, creates one user
per role with a random password (printed), starts the service, and plays the scenario (web/demo/scenarios) in
accelerated time through the service's own API (web/demo/runner.py). Started twice, the second says where the first
is running.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from web.cli.common import Failure, Refused, load_settings, say

if TYPE_CHECKING:
    from core.settings import Settings
    from web.demo.scenario import Scenario

CITY = Path(__file__).resolve().parents[1] / "demo" / "city"
OSM = CITY / "chengdu_core_2018.osm.pbf"
DISTRICTS = CITY / "chengdu_core_districts_clipped.geojson"
SCENARIO = Path(__file__).resolve().parents[1] / "demo" / "scenarios" / "chengdu.yaml"
ROLES = ("admin", "duty_officer", "commander", "field_unit", "observer")
RUNNING = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "commandpost-demo.json"
ACK_DEADLINE_S = 20.0  # the demo's acknowledgement deadline (every grade), so an escalation shows within a minute


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _already_running() -> str | None:
    try:
        found = json.loads(RUNNING.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(found, dict) and isinstance(found.get("pid"), int) and _alive(found["pid"]):
        return f"{found.get('url')} (process {found['pid']})"
    return None


def demo_database_url(settings: Settings, given: str | None) -> tuple[str, bool]:
    """The demo's database, and whether it is the demo's own (remade on every start): ``given`` is kept as it is."""
    if given:
        return given, False
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    return url.set(database=f"{url.database}_demo").render_as_string(hide_password=False), True


def check_scenario(path: Path) -> Scenario:
    """The scenario, checked against the taxonomy and the shipped plan library before anything runs."""
    import yaml

    from incidents.schemas import SUBTYPES
    from plans import service as plans_service
    from web.demo.scenario import load

    subtypes: dict[str, set[str]] = {}
    for key, subtype in SUBTYPES.items():
        subtypes.setdefault(subtype.category, set()).add(key)
    plan_ids = set()
    for file in sorted(plans_service.LIBRARY.glob("*.y*ml")):
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        if isinstance(document, dict) and isinstance(document.get("id"), str):
            plan_ids.add(document["id"])
    return load(path, subtypes=subtypes, plans=plan_ids)


@click.command("demo", short_help="a real city that moves: load it, serve it, play a scenario")
@click.option("--speed", type=click.FloatRange(0.1, 100), default=5.0, show_default=True, help="Scenario time speed.")
@click.option("--osm", type=click.Path(dir_okay=False), help="Another city's OpenStreetMap extract (.osm.pbf, .osm).")
@click.option("--districts", type=click.Path(dir_okay=False), help="Its districts (GeoJSON polygons with a name).")
@click.option("--no-scenario", is_flag=True, help="Load and serve the city, play nothing.")
@click.option("--drill", type=click.Path(dir_okay=False), help="Play this scenario file instead of the demo's.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="The TCP port.")
@click.option("--database-url", help="Use this database (kept, not remade) instead of the demo's own.")
def demo_command(
    speed: float,
    osm: str | None,
    districts: str | None,
    no_scenario: bool,
    drill: str | None,
    host: str,
    port: int,
    database_url: str | None,
) -> None:
    """Load a real city (central Chengdu, shipped), serve it and play a scenario in accelerated time."""
    running = _already_running()
    if running:
        raise Refused(f"the demo is already running at {running}")
    scenario = None if no_scenario else check_scenario(Path(drill) if drill else SCENARIO)
    for given in (osm, districts):
        if given and not Path(given).is_file():
            raise Refused(f"no such file: {given}")
    settings = load_settings()
    url, own = demo_database_url(settings, database_url)
    demo = settings.model_copy(
        update={
            "database_url": url,
            "redis_prefix": f"{settings.redis_prefix}-demo",
            "ack_deadlines": dict.fromkeys(("I", "II", "III", "IV"), ACK_DEADLINE_S),
            "ack_escalate_after_seconds": 10.0,
            "admin_password": None,
            "log_format": "text",
        }
    )
    _prepare_database(url, fresh=own)
    city = Path(osm) if osm else OSM
    # Another city's districts only when given: Chengdu's are not that city's.
    areas = Path(districts) if districts else (None if osm else DISTRICTS)
    logins = asyncio.run(_load_city(demo, osm=city, districts=areas))
    address = f"http://{host}:{port}"
    say(f"\nCommandpost demo on {address}  (map data © OpenStreetMap contributors, ODbL)")
    say("Sign in at /login as:")
    for role, (name, password) in logins.items():
        if role != "crews":
            say(f"  {role:<13} {name:<16} {password}")
    RUNNING.write_text(json.dumps({"pid": os.getpid(), "url": address}), encoding="utf-8")
    # uvicorn hands a SIGTERM on to the handler it found once it has shut down: exit through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(_serve(demo, host=host, port=port, scenario=scenario, speed=speed, logins=logins))
    finally:
        RUNNING.unlink(missing_ok=True)


def _prepare_database(url: str, *, fresh: bool) -> None:
    from core import migrate

    if fresh:
        asyncio.run(_drop(url))
    if migrate.ensure_database(url):
        say(f"created the demo database {url.rsplit('/', 1)[-1]}")
    migrate.upgrade(url)


async def _drop(url: str) -> None:
    """Remove the demo's own database (it is remade from the shipped city on every start)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


async def _load_city(settings: Settings, *, osm: Path, districts: Path | None) -> dict[str, tuple[str, str]]:
    from core.users import Role, add_user
    from gis import service as gis
    from web.cli.common import unit_of_work
    from web.cli.layers import _import_layer
    from web.cli.plans import load_plans

    async with unit_of_work(settings) as session:
        speeds = gis.road_speeds(overrides=settings.road_speeds_kmh)
        report = await gis.import_osm(session, path=osm, demo_units=True, speeds=speeds)
        if not report.roads:
            raise Failure(f"{osm.name} has no roads to drive on: the demo needs a city's road network")
    say(f"city: {osm.name}: {report.roads} road ways, {report.demo_units} demo units")
    if districts is not None:
        await _import_layer(
            settings,
            path=districts,
            kind="jurisdictions",
            quiet=True,
            crs=None,
            zone_kind=None,
            buffer_m=None,
            strict=False,
        )
    await load_plans(settings, path=None)
    logins: dict[str, tuple[str, str]] = {}
    async with unit_of_work(settings) as session:
        unit_id = await _a_unit(session)
        for role in (*ROLES, "crews"):
            name = f"demo.{role.replace('_', '-')}"
            password = secrets.token_urlsafe(12)
            await _remove_user(session, name)
            as_role = Role.commander if role == "crews" else Role(role)
            await add_user(
                session,
                username=name,
                password=password,
                role=as_role,
                unit_id=unit_id if as_role is Role.field_unit else None,
            )
            logins[role] = (name, password)
    return logins


async def _a_unit(session: Any) -> int | None:
    from sqlalchemy import text

    return await session.scalar(text("SELECT id FROM resource WHERE status IS NOT NULL ORDER BY id LIMIT 1"))


async def _remove_user(session: Any, name: str) -> None:
    """A user of an earlier run on a kept database: gone, to be made again with a new password."""
    from sqlalchemy import text

    await session.execute(text("DELETE FROM app_user WHERE username = :n"), {"n": name})


async def _serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    scenario: Scenario | None,
    speed: float,
    logins: dict[str, tuple[str, str]],
) -> None:
    import httpx
    import uvicorn

    from web.app import create_app
    from web.cli.serve import server_options
    from web.demo.runner import Runner

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **server_options(settings, log_level="warning")))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # the port is taken, or the app failed to start: say so
            raise Failure("the service stopped while starting")
        await asyncio.sleep(0.05)
    say(f"serving on http://{host}:{port}  (Ctrl+C stops the demo)")
    if scenario is None:
        await serving
        return
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tokens = {role: await _sign_in(client, *logins[role]) for role in ("duty_officer", "crews")}
        runner = Runner(
            client,
            scenario,
            officer=tokens["duty_officer"],
            commander=tokens["crews"],
            speed=speed,
            ack_deadline_s=ACK_DEADLINE_S,
            escalate_after_s=settings.ack_escalate_after_seconds,
        )
        say(f"playing '{scenario.name.get('en', '')}' at {speed:g}x ({scenario.length_s / speed:.0f} s of reports)")
        playing = asyncio.create_task(runner.run())
        try:
            done, _ = await asyncio.wait({serving, playing}, return_when=asyncio.FIRST_COMPLETED)
            if playing in done:
                played = playing.result()
                say(
                    f"scenario played: {len(played.incidents)} incidents, {played.dispatched} dispatches, "
                    f"{len(played.failures)} step(s) failed"
                )
                for failure in played.failures[:10]:
                    say(f"  {failure}")
                await serving
        finally:
            await runner.stop()
            playing.cancel()


async def _sign_in(client: Any, name: str, password: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/token", data={"username": name, "password": password})
    if response.status_code != 200:
        raise Failure(f"the demo user {name} cannot sign in: {response.status_code}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
