"""The typed application state (web/state.py): complete once the lifespan has run, one engine under all of it, and
the only way to reach what the app built (no untyped ``app.state.x`` look-up left in web/, the tests or bench/)."""

from __future__ import annotations

import ast
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from core.settings import Settings
from web.app import create_app
from web.state import AppState, state_of

ROOT = Path(__file__).resolve().parents[2]
HINTS = typing.get_type_hints(AppState)


def _fits(value: Any, hint: Any) -> bool:
    """``value`` is an instance of the annotation ``hint`` (unions and generics by their runtime class)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    return isinstance(value, typing.get_origin(hint) or hint)


def _misfits(state: AppState) -> list[str]:
    return [
        f"{f.name}: {getattr(state, f.name)!r}"
        for f in fields(state)
        if not _fits(getattr(state, f.name), HINTS[f.name])
    ]


def test_the_checker_sees_a_wrong_part() -> None:
    assert not _fits(None, HINTS["sessionmaker"]) and not _fits("redis://", HINTS["redis"])
    assert _fits(None, HINTS["redis"])


async def test_the_state_is_complete_after_start_up_on_a_lent_sessionmaker(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    state = state_of(app)
    assert _misfits(state) == []
    assert state.settings is settings and state.engine is None and state.scheduler is None
    assert state.sessionmaker is state.read_sessionmaker is sessionmaker  # the test's one connection
    assert state.redis is not None and state.audit_bursts.sessionmaker is sessionmaker


async def test_the_state_of_a_worker_stands_on_one_engine(live_app: FastAPI) -> None:
    """DESIGN.md: one engine (and its pool) per process. Writes, autocommit reads, the audit bursts and the
    scheduler's sweeps share it."""
    state = state_of(live_app)
    assert _misfits(state) == []
    assert state.engine is not None
    pool = state.engine.pool
    assert state.sessionmaker.kw["bind"] is state.engine
    assert state.read_sessionmaker.kw["bind"].pool is pool  # the same engine with AUTOCOMMIT
    assert state.audit_bursts.sessionmaker is state.sessionmaker
    assert state.scheduler is not None and state.scheduler.engine is state.engine


async def test_a_request_and_a_websocket_reach_the_same_state(live_app: FastAPI) -> None:
    """Routes read the state through the connection they serve: what a test swaps in is what the next request sees."""
    state = state_of(live_app)
    for kind in ("http", "websocket"):
        assert state_of(HTTPConnection({"type": kind, "app": live_app, "headers": []})) is state


def test_an_app_that_has_not_started_has_no_state(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="has not started"):
        state_of(create_app(settings))


def _untyped_lookups(path: Path, root: Path = ROOT) -> list[str]:
    """Every ``<...>app.state`` attribute (or ``getattr(<...>app, "state")``) in the file: Starlette's untyped
    bag of the app. (A request's own ``request.state``, its id and caller, is not the app's.)"""

    def is_app(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id.endswith("app")) or (
            isinstance(node, ast.Attribute) and node.attr.endswith("app")
        )

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "state"
            and is_app(node.value)
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and len(node.args) >= 2
                and is_app(node.args[0])
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "state"
            )
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(found, key=lambda hit: int(hit.rsplit(":", 1)[1]))


def test_no_untyped_look_up_of_the_app_state() -> None:
    """web/state.py alone touches ``app.state``; everything else asks ``state_of`` (or the ``StateDep``)."""
    keeper = ROOT / "web" / "state.py"
    files = [p for folder in ("web", "tests", "bench") for p in sorted((ROOT / folder).rglob("*.py")) if p != keeper]
    assert files and [hit for path in files for hit in _untyped_lookups(path)] == []


def test_the_scan_sees_an_untyped_look_up(tmp_path: Path) -> None:
    module = tmp_path / "route.py"
    module.write_text(
        "def f(request, ws, live_app):\n"
        "    a = request.app.state.sessionmaker\n"
        "    b = ws.app.state.settings\n"
        "    c = getattr(request.app, 'state')\n"
        "    live_app.state.x = 1\n"
        "    return request.state.request_id\n",
        encoding="utf-8",
    )
    assert _untyped_lookups(module, tmp_path) == ["route.py:2", "route.py:3", "route.py:4", "route.py:5"]
