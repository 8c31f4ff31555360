"""`commandpost plans load` and `plans check` against this run's database (they commit: cleaned up after)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from tests.conftest import LIVE_TABLES
from tests.plans.test_examples import EXAMPLES
from web import cli


@pytest.fixture
async def cleanup(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(LIVE_TABLES)} RESTART IDENTITY CASCADE"))


async def test_plans_load_is_idempotent_and_check_reports(
    settings: Settings, cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    await cli._load_plans(settings, argparse.Namespace(path=None))
    first = capsys.readouterr().out
    assert "created   cn-earthquake 2026.1" in first and " 0 unchanged" in first
    await cli._load_plans(settings, argparse.Namespace(path=None))
    assert "plans: 0 loaded" in capsys.readouterr().out
    report = await cli._check_plans(settings, argparse.Namespace(file=str(EXAMPLES), limit=10))
    assert report["covered"] > 30 and "cyber_attack" in report["subtypes"]["uncovered"]
    parser = cli.build_parser()
    assert parser.parse_args(["plans", "check", "x.yaml", "--json"]).func is cli.cmd_plans_check
    assert parser.parse_args(["scheduler"]).func is cli.cmd_scheduler
