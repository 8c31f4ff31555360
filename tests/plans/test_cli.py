"""`commandpost plans load` and `plans check` against this run's database (they commit: cleaned up after)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import click
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from tests.conftest import LIVE_TABLES
from tests.plans.test_examples import EXAMPLES
from web.cli import main
from web.cli import plans as plans_cli
from web.cli.scheduler import scheduler_command


@pytest.fixture
async def cleanup(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(LIVE_TABLES)} RESTART IDENTITY CASCADE"))


async def test_plans_load_is_idempotent_and_check_reports(
    settings: Settings, cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    await plans_cli.load_plans(settings, path=None)
    first = capsys.readouterr().out
    assert "created   cn-earthquake 2026.1" in first and " 0 unchanged" in first
    await plans_cli.load_plans(settings, path=None)
    assert "plans: 0 loaded" in capsys.readouterr().out
    report = await plans_cli.check_plans(settings, file=str(EXAMPLES), limit=10)
    assert report["covered"] > 30 and "cyber_attack" in report["subtypes"]["uncovered"]
    # The command line reaches these two: `plans check FILE --json` and `scheduler`.
    with main.make_context("commandpost", ["plans", "check", "x.yaml", "--json"]) as ctx:
        plans_group = main.get_command(ctx, "plans")
        assert isinstance(plans_group, click.Group)
        assert plans_group.get_command(ctx, "check") is plans_cli.check_command
        assert main.get_command(ctx, "scheduler") is scheduler_command
    parsed = plans_cli.check_command.make_context("check", ["x.yaml", "--json"])
    assert parsed.params == {"file": "x.yaml", "limit": 1000, "as_json": True}
