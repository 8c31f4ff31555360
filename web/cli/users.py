"""``commandpost users``: people who sign in (more are managed over ``/api/v1/users`` by an admin)."""

from __future__ import annotations

import asyncio
import secrets
import sys
from typing import TYPE_CHECKING

import click

from web.cli.common import load_settings, say, unit_of_work

if TYPE_CHECKING:
    from core.settings import Settings

# core.users.Role's values, spelt out so that `commandpost --help` needs neither SQLAlchemy nor argon2
# (tests/web/test_cli_usage.py keeps the two equal).
ROLES = ("admin", "duty_officer", "commander", "field_unit", "observer", "gateway")


@click.group("users", short_help="people who sign in")
def users_group() -> None:
    """People who sign in."""


@users_group.command("add", short_help="add a user (password asked, read from stdin, or generated)")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--unit", type=int, help="The unit a field_unit user is bound to.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def add_command(name: str, role: str, unit: int | None, password_stdin: bool) -> None:
    """Add a user NAME (password asked, read from stdin, or generated and shown once)."""
    settings = load_settings()
    password, generated = _read_password(password_stdin)
    asyncio.run(_add_user(settings, name=name, role=role, unit_id=unit, password=password))
    if generated:
        say(f"generated password (shown once): {password}")


def _read_password(from_stdin: bool) -> tuple[str, bool]:
    """The new user's password and whether we generated it (so it must be shown once): the first line of stdin,
    asked twice at a terminal, or generated when stdin is a pipe that was not announced with --password-stdin."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt="again"), False
    return secrets.token_urlsafe(12), True


async def _add_user(settings: Settings, *, name: str, role: str, unit_id: int | None, password: str) -> None:
    from core.audit import record_audit
    from core.users import Role, add_user

    async with unit_of_work(settings) as session:
        user = await add_user(session, username=name, password=password, role=Role(role), unit_id=unit_id)
        await record_audit(
            session, action="users.add", outcome="ok", actor="cli", target={"username": name, "role": role}
        )
        say(f"added user {user.username} ({user.role})")
