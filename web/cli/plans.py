"""``commandpost plans``: load contingency plans, and replay incidents against them (a dry run)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from web.cli.common import Failure, load_settings, say, unit_of_work

if TYPE_CHECKING:
    from core.settings import Settings


@click.group("plans", short_help="contingency plans")
def plans_group() -> None:
    """Contingency plans."""


@plans_group.command("load", short_help="load plans (default: the shipped library), idempotently, all or nothing")
@click.argument("path", required=False)
def load_command(path: str | None) -> None:
    """Load plans (default: the shipped library), idempotently, all or nothing.

    PATH is a plan file or a directory of them (.yaml, .yml, .json).
    """
    asyncio.run(load_plans(load_settings(), path=path))


async def load_plans(settings: Settings, *, path: str | None) -> None:
    """Validate every file under ``path`` (default: ``plans/library/``) before touching the database, then store
    the new versions in one transaction, audited, and print a line per plan."""
    from core.audit import record_audit
    from plans import service as plans_service

    where = Path(path) if path else plans_service.LIBRARY
    plans_service.read_plans(where)  # validate every file before touching the database
    async with unit_of_work(settings) as session:
        results = await plans_service.load_path(session, path=where, actor="cli")
        created = [r for r in results if r.outcome == "created"]
        if created:
            await record_audit(
                session,
                action="plans.load",
                outcome="ok",
                actor="cli",
                target={"path": str(where), "created": [f"{r.plan.plan_id}@{r.plan.version}" for r in created]},
            )
    for result in results:
        superseded = f" (supersedes {', '.join(result.superseded)})" if result.superseded else ""
        say(f"  {result.outcome:<9} {result.plan.plan_id} {result.plan.version}{superseded}")
    say(f"plans: {len(created)} loaded, {len(results) - len(created)} unchanged, from {where}")


@plans_group.command("check", short_help="dry run: which plans would fire, which incidents no plan covers")
@click.argument("file", required=False)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Stored incidents to replay, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def check_command(file: str | None, limit: int, as_json: bool) -> None:
    """Dry run: which plans would fire, which incidents no plan covers.

    FILE is a YAML file of example incidents (default: the stored incidents).
    """
    report = asyncio.run(check_plans(load_settings(), file=file, limit=limit))
    if as_json:
        say(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for result in report["results"]:
        who = result["incident"]
        label = f"{who.get('id', '')} {who['name']}".strip()
        fired = ", ".join(f"{m['plan_id']} ({m['score']:g})" for m in result["matches"]) or "NO PLAN"
        say(f"  {label} [{who['subtype'] or who['category'] or '?'} {who['level'] or '-'}]: {fired}")
    say(f"{report['covered']} of {report['incidents']} incident(s) covered by a plan")
    for name, count in report["plans_fired"].items():
        say(f"  {name}: ranked first for {count}")
    if report["uncovered"]:
        say("not covered: " + ", ".join(u["subtype"] or u["category"] or u["name"] for u in report["uncovered"]))


async def check_plans(settings: Settings, *, file: str | None, limit: int) -> dict[str, Any]:
    """The coverage report for the examples in ``file``, or for the ``limit`` newest stored incidents; rolled
    back, whatever the check touched."""
    from core.db import create_engine, create_sessionmaker
    from plans import service as plans_service

    examples = None
    if file:
        path = Path(file)
        if not path.is_file():
            raise Failure(f"no such file: {path}")
        examples = plans_service.read_check_file(path).incidents
    engine = create_engine(settings, bulk=True)
    try:
        async with create_sessionmaker(engine)() as session:
            report = await plans_service.check(session, examples=examples, limit=limit)
            await session.rollback()  # a dry run: nothing to keep
    finally:
        await engine.dispose()
    return report.as_dict()
