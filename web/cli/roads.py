"""``commandpost roads``: the routing graph built from the imported road ways."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from web.cli.common import load_settings, say, unit_of_work

if TYPE_CHECKING:
    from core.settings import Settings


@click.group("roads", short_help="the road network")
def roads_group() -> None:
    """The road network."""


@roads_group.command("build", short_help="rebuild the routing graph from the imported road ways and report it")
def build_command() -> None:
    """Rebuild the routing graph from the imported road ways and report it.

    Speeds come from COMMANDPOST_ROAD_SPEEDS_KMH (a road class at 0 km/h is left out of the graph).
    """
    asyncio.run(_build_roads(load_settings()))


async def _build_roads(settings: Settings) -> None:
    from core.audit import record_audit
    from gis import service as gis

    async with unit_of_work(settings) as session:
        report = await gis.build_road_graph(session, speeds=gis.road_speeds(overrides=settings.road_speeds_kmh))
        await record_audit(
            session,
            action="roads.build",
            outcome="ok",
            actor="cli",
            target={"edges": report.edges, "vertices": report.vertices, "components": report.components},
        )
    say(f"road graph: {report.summary()}")
    for reason, count in report.left_out.items():
        say(f"  left out: {count} way(s), {reason.replace('_', ' ')}")
    for piece in report.isolated[:10]:
        say(
            f"  isolated piece: {piece.vertices} vertices, {piece.edges} edges, {piece.length_m:.0f} m, "
            f"near {piece.lon:.5f},{piece.lat:.5f}"
        )
    if not report.edges:
        say("  no road graph: import an OpenStreetMap extract first (commandpost import-osm FILE)")
