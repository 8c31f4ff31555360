"""The ``commandpost`` command: serve, migrate, manage users."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from core import migrate
from core.audit import record_audit
from core.db import create_engine, create_sessionmaker, transaction
from core.errors import CommandpostError
from core.settings import Settings, get_settings
from core.users import Role, add_user, ensure_admin

if TYPE_CHECKING:  # `serve` runs the web worker in this process: tqdm loads only for a command that draws a bar
    from tqdm import tqdm


@asynccontextmanager
async def _unit_of_work(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One transaction on an engine of its own, disposed afterwards: what every command that writes runs in (with
    the bulk time limits: an operator's import or graph build may run longer than a request)."""
    engine = create_engine(settings, bulk=True)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


def _print(message: str) -> None:
    print(message, flush=True)


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn runs the service (``serve``, and tests that serve an app of their own the same way)."""
    from web.logs import logging_config

    return {
        # X-Forwarded-For is read in one place, the app, and only from COMMANDPOST_TRUSTED_PROXIES (web/app.py):
        # uvicorn's own reading would believe it from any local peer.
        "proxy_headers": False,
        "ws_max_size": settings.ws_max_message_kb * 1024,  # larger client messages: closed with 1009
        "ws_per_message_deflate": settings.ws_compression,
        "log_config": logging_config(),  # tokens and SQL values never reach a log line (web/logs.py)
    }


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if args.workers > 1 and not settings.redis_url:
        raise SystemExit(
            "commandpost: --workers > 1 needs COMMANDPOST_REDIS_URL (the in-process bus serves one worker only)"
        )
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        **server_options(settings),
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url
    name = make_url(url).database
    if migrate.ensure_database(url):
        _print(f"created database {name}")
    pending = migrate.pending_revisions(url)
    if pending:
        from tqdm import tqdm

        with tqdm(total=len(pending), desc="migrating", unit="rev", disable=args.quiet) as bar:

            def step(revision: str) -> None:
                bar.set_postfix_str(revision)
                bar.update()

            migrate.upgrade(url, on_step=step)
        _print(f"database {name} migrated to {migrate.head_revision()} ({len(pending)} step(s))")
    else:
        _print(f"database {name} is up to date ({migrate.head_revision()})")
    if settings.admin_password is not None:
        done = asyncio.run(_ensure_admin(settings))
        _print(f"admin user {done} from COMMANDPOST_ADMIN_PASSWORD")
    return 0


def cmd_db_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    migrate.downgrade(settings.database_url, args.revision)
    _print(f"database downgraded to {args.revision}")
    return 0


async def _ensure_admin(settings: Settings) -> str:
    assert settings.admin_password is not None
    async with _unit_of_work(settings) as session:
        done = await ensure_admin(session, password=settings.admin_password.get_secret_value())
        if done != "unchanged":
            await record_audit(session, action="users.ensure_admin", outcome="ok", actor="cli", target={"done": done})
        return done


async def _add_user(settings: Settings, *, name: str, role: Role, unit_id: int | None, password: str) -> None:
    async with _unit_of_work(settings) as session:
        user = await add_user(session, username=name, password=password, role=role, unit_id=unit_id)
        await record_audit(
            session, action="users.add", outcome="ok", actor="cli", target={"username": name, "role": role.value}
        )
        _print(f"added user {user.username} ({user.role})")


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new user's password and whether we generated it (so it must be shown once)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise SystemExit("commandpost: the two passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _read_password(args)
    asyncio.run(_add_user(settings, name=args.name, role=Role(args.role), unit_id=args.unit, password=password))
    if generated:
        _print(f"generated password (shown once): {password}")
    return 0


def _set_total(bar: tqdm[Any], total: int) -> None:
    bar.total = total
    bar.refresh()


def _advance(bar: tqdm[Any], rows: int) -> None:
    bar.update(rows)


async def _import_layer(settings: Settings, args: argparse.Namespace) -> None:
    from pathlib import Path

    from tqdm import tqdm

    from gis.schemas import ImportLimits, LayerKind
    from gis.service import import_layer

    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"commandpost: no such file: {path}")
    with tqdm(desc=f"importing {path.name}", unit="row", disable=args.quiet) as bar:
        async with _unit_of_work(settings) as session:
            report = await import_layer(
                session,
                path=path,
                kind=LayerKind(args.kind),
                limits=ImportLimits.of(settings),
                crs=args.crs,
                zone_kind=args.zone_kind,
                buffer_m=args.buffer_m,
                strict=args.strict,
                on_read=lambda n: _set_total(bar, n),
                on_progress=lambda n: _advance(bar, n),
            )
            await record_audit(
                session,
                action="layers.import",
                outcome="ok",
                actor="cli",
                target={"kind": args.kind, "file": path.name, "imported": report.imported},
            )
    _print(f"imported {report.imported} {args.kind} from {report.file}")
    for note in report.notes:
        _print(f"  note: {note}")
    for problem in report.repaired:
        _print(f"  repaired row {problem.row}: {problem.reason}")
    for problem in report.rejected:
        _print(f"  rejected row {problem.row}: {problem.reason}")
    if report.rejected:
        _print(f"{len(report.rejected)} row(s) rejected")


def cmd_import_layer(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_import_layer(settings, args))
    return 0


async def _import_osm(settings: Settings, args: argparse.Namespace) -> None:
    from pathlib import Path

    from gis.service import import_osm
    from gis.service import road_speeds as speed_table

    path = Path(args.file)
    async with _unit_of_work(settings) as session:
        speeds = speed_table(overrides=settings.road_speeds_kmh)
        report = await import_osm(session, path=path, demo_units=args.demo_units, speeds=speeds)
        await record_audit(
            session,
            action="layers.import_osm",
            outcome="ok",
            actor="cli",
            target={"file": path.name, "demo_units": report.demo_units},
        )
    facilities = ", ".join(f"{n} {t}" for t, n in sorted(report.facilities.items())) or "none"
    _print(f"imported from {report.file}: facilities: {facilities}")
    _print(f"  jurisdictions: {report.jurisdictions}, road ways: {report.roads}, demo units: {report.demo_units}")
    for reason in report.incomplete_boundaries:
        _print(f"  skipped incomplete boundary {reason}")
    if report.graph is not None:
        _print(f"  road graph: {report.graph.summary()}")


def cmd_import_osm(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_import_osm(settings, args))
    return 0


async def _build_roads(settings: Settings) -> None:
    from gis.service import build_road_graph as build_graph
    from gis.service import road_speeds as speed_table

    async with _unit_of_work(settings) as session:
        report = await build_graph(session, speeds=speed_table(overrides=settings.road_speeds_kmh))
        await record_audit(
            session,
            action="roads.build",
            outcome="ok",
            actor="cli",
            target={"edges": report.edges, "vertices": report.vertices, "components": report.components},
        )
    _print(f"road graph: {report.summary()}")
    for reason, count in report.left_out.items():
        _print(f"  left out: {count} way(s), {reason.replace('_', ' ')}")
    for piece in report.isolated[:10]:
        _print(
            f"  isolated piece: {piece.vertices} vertices, {piece.edges} edges, {piece.length_m:.0f} m, "
            f"near {piece.lon:.5f},{piece.lat:.5f}"
        )
    if not report.edges:
        _print("  no road graph: import an OpenStreetMap extract first (commandpost import-osm FILE)")


def cmd_roads_build(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_build_roads(settings))
    return 0


async def _load_plans(settings: Settings, args: argparse.Namespace) -> None:
    from pathlib import Path

    from plans import service as plans_service

    path = Path(args.path) if args.path else plans_service.LIBRARY
    plans_service.read_plans(path)  # validate every file before touching the database
    async with _unit_of_work(settings) as session:
        results = await plans_service.load_path(session, path=path, actor="cli")
        created = [r for r in results if r.outcome == "created"]
        if created:
            await record_audit(
                session,
                action="plans.load",
                outcome="ok",
                actor="cli",
                target={"path": str(path), "created": [f"{r.plan.plan_id}@{r.plan.version}" for r in created]},
            )
    for result in results:
        superseded = f" (supersedes {', '.join(result.superseded)})" if result.superseded else ""
        _print(f"  {result.outcome:<9} {result.plan.plan_id} {result.plan.version}{superseded}")
    _print(f"plans: {len(created)} loaded, {len(results) - len(created)} unchanged, from {path}")


def cmd_plans_load(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_load_plans(settings, args))
    return 0


async def _check_plans(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from pathlib import Path

    from plans import service as plans_service
    from plans.schemas import CheckIn
    from plans.yamlio import parse_yaml, validate

    examples = None
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise SystemExit(f"commandpost: no such file: {path}")
        examples = validate(CheckIn, parse_yaml(path.read_bytes()), what=path.name).incidents
    engine = create_engine(settings, bulk=True)
    try:
        async with create_sessionmaker(engine)() as session:
            report = await plans_service.check(session, examples=examples, limit=args.limit)
            await session.rollback()  # a dry run: nothing to keep
    finally:
        await engine.dispose()
    return report.as_dict()


def cmd_plans_check(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(_check_plans(settings, args))
    if args.json:
        import json

        _print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    for result in report["results"]:
        who = result["incident"]
        label = f"{who.get('id', '')} {who['name']}".strip()
        fired = ", ".join(f"{m['plan_id']} ({m['score']:g})" for m in result["matches"]) or "NO PLAN"
        _print(f"  {label} [{who['subtype'] or who['category'] or '?'} {who['level'] or '-'}]: {fired}")
    _print(f"{report['covered']} of {report['incidents']} incident(s) covered by a plan")
    for name, count in report["plans_fired"].items():
        _print(f"  {name}: ranked first for {count}")
    if report["uncovered"]:
        _print("not covered: " + ", ".join(u["subtype"] or u["category"] or u["name"] for u in report["uncovered"]))
    return 0


async def _scheduler(settings: Settings) -> None:
    from notify.bus import RedisDoorbell
    from web.scheduler import run_forever

    engine = create_engine(settings)
    client = None
    announce = None
    if settings.redis_url:
        import redis.asyncio as redis_async

        client = redis_async.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        doorbell = RedisDoorbell(client, settings.redis_prefix)

        async def ring(event_ids: Sequence[int]) -> None:
            await doorbell.ring(max(event_ids))

        announce = ring
    try:
        await run_forever(settings, engine, announce=announce)
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    import logging.config

    from web.logs import logging_config

    logging.config.dictConfig(logging_config())  # as serve's: no SQL values in the sweeps' error logs
    _print("commandpost scheduler: campaigning for the scheduler lock (Ctrl-C stops)")
    try:
        asyncio.run(_scheduler(settings))
    except KeyboardInterrupt:
        _print("scheduler stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="commandpost", description="Emergency command and dispatch service.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP and websocket service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="create the database if missing and migrate it to the newest schema")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="migrate down to a revision ('base' removes everything)")
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)

    users = sub.add_parser("users", help="people who sign in").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user (password asked, read from stdin, or generated)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--unit", type=int, help="the unit a field_unit user is bound to")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(func=cmd_users_add)

    osm = sub.add_parser("import-osm", help="import an OpenStreetMap extract (.osm, .osm.bz2, .osm.pbf)")
    osm.add_argument("file")
    osm.add_argument("--demo-units", action="store_true", help="also place synthetic units at the stations")
    osm.set_defaults(func=cmd_import_osm)

    layer = sub.add_parser("import-layer", help="import a layer file (GeoJSON, GeoPackage, zipped Shapefile, CSV)")
    layer.add_argument("file")
    layer.add_argument("--kind", required=True, choices=["resources", "jurisdictions", "hazard_zones"])
    layer.add_argument("--crs", help="the CRS of a file that names none (e.g. EPSG:32648)")
    layer.add_argument("--zone-kind", help="hazard zones: the kind of rows without a 'kind' column")
    layer.add_argument("--buffer-m", type=float, help="hazard zones: the buffer of rows without 'buffer_m'")
    layer.add_argument("--strict", action="store_true", help="refuse the whole file if any row is bad")
    layer.add_argument("--quiet", action="store_true", help="no progress bar")
    layer.set_defaults(func=cmd_import_layer)

    roads = sub.add_parser("roads", help="the road network").add_subparsers(dest="roads_command", required=True)
    build = roads.add_parser("build", help="rebuild the routing graph from the imported road ways and report it")
    build.set_defaults(func=cmd_roads_build)

    plans = sub.add_parser("plans", help="contingency plans").add_subparsers(dest="plans_command", required=True)
    load = plans.add_parser("load", help="load plans (default: the shipped library), idempotently, all or nothing")
    load.add_argument("path", nargs="?", help="a plan file or a directory of them (.yaml, .yml, .json)")
    load.set_defaults(func=cmd_plans_load)
    check = plans.add_parser("check", help="dry run: which plans would fire, which incidents no plan covers")
    check.add_argument("file", nargs="?", help="a YAML file of example incidents (default: the stored incidents)")
    check.add_argument("--limit", type=int, default=1000, help="stored incidents to replay, newest first")
    check.add_argument("--json", action="store_true", help="print the whole report as JSON")
    check.set_defaults(func=cmd_plans_check)

    scheduler = sub.add_parser("scheduler", help="run the periodic sweeps (one process is elected among many)")
    scheduler.set_defaults(func=cmd_scheduler)
    return parser


def _settings() -> Settings:
    """The settings, or a clear message and exit status 2 when the configuration is not valid."""
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"commandpost: the configuration is not valid: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = _settings()
    try:
        return int(args.func(args, settings))
    except CommandpostError as exc:
        print(f"commandpost: {exc.detail}", file=sys.stderr)
        return 2
    except (OSError, ConnectionError) as exc:
        print(f"commandpost: cannot reach a service: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
