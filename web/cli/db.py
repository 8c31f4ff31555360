"""``commandpost db``: create and migrate the database (and the ``admin`` user), or migrate it down."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from web.cli.common import load_settings, say, unit_of_work

if TYPE_CHECKING:
    from core.settings import Settings


@click.group("db", short_help="database schema")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade", short_help="create the database if missing and migrate it to the newest schema")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def upgrade_command(quiet: bool) -> None:
    """Create the database if missing and migrate it to the newest schema.

    Also creates the user admin, or resets its password, from COMMANDPOST_ADMIN_PASSWORD when that is set.
    """
    from sqlalchemy.engine import make_url
    from tqdm import tqdm

    from core import migrate

    settings = load_settings()
    url = settings.database_url
    name = make_url(url).database
    if migrate.ensure_database(url):
        say(f"created database {name}")
    pending = migrate.pending_revisions(url)
    if pending:
        with tqdm(total=len(pending), desc="migrating", unit="rev", disable=quiet) as bar:

            def step(revision: str) -> None:
                bar.set_postfix_str(revision)
                bar.update()

            migrate.upgrade(url, on_step=step)
        say(f"database {name} migrated to {migrate.head_revision()} ({len(pending)} step(s))")
    else:
        say(f"database {name} is up to date ({migrate.head_revision()})")
    made = asyncio.run(_fix_partitions(settings))
    if made:
        say(f"unit_fix: {made} day partition(s) made or detached")
    if settings.admin_password is not None:
        done = asyncio.run(_ensure_admin(settings))
        say(f"admin user {done} from COMMANDPOST_ADMIN_PASSWORD")


@db_group.command("downgrade", short_help="migrate down to a revision ('base' removes everything)")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate down to REVISION ('base' removes everything)."""
    from core import migrate

    migrate.downgrade(load_settings().database_url, revision)
    say(f"database downgraded to {revision}")


async def _fix_partitions(settings: Settings) -> int:
    """The scheduler's partition sweep, once now: the service starts with today's partition in place."""
    from command.service import sweep_fix_partitions
    from core.clock import utcnow

    async with unit_of_work(settings) as session:
        return await sweep_fix_partitions(
            session,
            now=utcnow(),
            days_ahead=settings.location_partition_days_ahead,
            keep_days=settings.location_keep_days,
        )


async def _ensure_admin(settings: Settings) -> str:
    """Create ``admin`` or reset its password; audited when it changed anything. Returns what was done."""
    from core.audit import record_audit
    from core.users import ensure_admin

    assert settings.admin_password is not None
    async with unit_of_work(settings) as session:
        done = await ensure_admin(session, password=settings.admin_password.get_secret_value())
        if done != "unchanged":
            await record_audit(session, action="users.ensure_admin", outcome="ok", actor="cli", target={"done": done})
        return done
