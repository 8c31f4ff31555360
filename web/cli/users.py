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
@click.option("--units", help="The units a gateway reports for: ids and ranges, e.g. 12,15,20-80.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def add_command(name: str, role: str, unit: int | None, units: str | None, password_stdin: bool) -> None:
    """Add a user NAME (password asked, read from stdin, or generated and shown once)."""
    if (units is not None) != (role == "gateway"):
        raise click.UsageError("--units goes with --role gateway, and a gateway needs it")
    unit_ids = _unit_ids(units) if units is not None else []
    settings = load_settings()
    password, generated = _read_password(password_stdin)
    asyncio.run(_add_user(settings, name=name, role=role, unit_id=unit, unit_ids=unit_ids, password=password))
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


def _unit_ids(spec: str) -> list[int]:
    """``12,15,20-80`` as ids; at most 100,000 of them."""
    ids: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise click.BadParameter(f"{part!r} is not an id or a range of ids", param_hint="--units")
        first, last = int(low), int(high or low)
        if last < first or last - first + len(ids) >= 100_000:
            raise click.BadParameter(f"{part!r}: an empty or too large range", param_hint="--units")
        ids.update(range(first, last + 1))
    if not ids:
        raise click.BadParameter("no unit ids", param_hint="--units")
    return sorted(ids)


async def _add_user(
    settings: Settings, *, name: str, role: str, unit_id: int | None, unit_ids: list[int], password: str
) -> None:
    from command.service import assign_gateway_units
    from core.audit import record_audit
    from core.users import Role, add_user

    async with unit_of_work(settings) as session:
        user = await add_user(session, username=name, password=password, role=Role(role), unit_id=unit_id)
        if unit_ids:
            await assign_gateway_units(session, user_id=user.id, unit_ids=unit_ids)
        target = {"username": name, "role": role} | ({"units": len(unit_ids)} if unit_ids else {})
        await record_audit(session, action="users.add", outcome="ok", actor="cli", target=target)
        say(f"added user {user.username} ({user.role})")
