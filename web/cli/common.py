"""What every command shares: the settings (or a clear refusal), one unit of work, output lines, and the exit
statuses beyond click's own (0 done, 1 the work failed, 2 a usage error or refused input, 3 a service unreachable).

Only click is imported here at module level: the process that runs ``serve`` hosts the worker, and each command
imports what it needs (SQLAlchemy, alembic, tqdm, gis...) inside its own function."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.settings import Settings


class Failure(click.ClickException):
    """The work could not be done (a missing file, a refused option combination): ``commandpost: <message>`` on
    stderr, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"commandpost: {self.format_message()}", file=file, err=file is None)


class Refused(Failure):
    """Input the service refuses (a ``CommandpostError``: a user that already exists, a file refused under
    ``--strict``) or a configuration that is not valid: exit status 2, as click's usage errors."""

    exit_code = 2


class Unreachable(Failure):
    """PostgreSQL or Redis did not answer (an ``OSError`` from the driver): exit status 3, so a script can retry."""

    exit_code = 3


def load_settings() -> Settings:
    """The settings, or ``Refused`` naming each problem when the configuration is not valid. Pydantic's message
    names the field and the rule, never the value (a short SECRET_KEY is not printed)."""
    from pydantic import ValidationError

    from core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise Refused(f"the configuration is not valid: {problems}") from None


@asynccontextmanager
async def unit_of_work(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One transaction on an engine of its own, disposed afterwards: what every command that writes runs in (with
    the bulk time limits: an operator's import or graph build may run longer than a request)."""
    from core.db import create_engine, create_sessionmaker, transaction

    engine = create_engine(settings, bulk=True)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


def say(message: str) -> None:
    """One line of the command's report on stdout, flushed by click.echo (a long import shows its lines as they
    come; the progress bars are on stderr)."""
    click.echo(message)
