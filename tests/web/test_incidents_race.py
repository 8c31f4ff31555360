"""Races that only real commits can show: one Idempotency-Key, many simultaneous retries, one incident."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from core.events import Event
from tests.conftest import TokenFor
from tests.web.test_incidents import body


async def test_racing_retries_with_one_key_make_one_incident(
    live_client: httpx.AsyncClient, live_token_for: TokenFor, engine: AsyncEngine
) -> None:
    auth = {**await live_token_for("duty_officer"), "Idempotency-Key": "bad-line-retry-7"}
    async with create_sessionmaker(engine)() as session:  # this test's rows are the ones after these
        last_incident = await session.scalar(text("SELECT coalesce(max(id), 0) FROM incident"))
        last_event = await session.scalar(select(func.coalesce(func.max(Event.id), 0)))
    responses = await asyncio.gather(
        *(live_client.post("/api/v1/incidents", json=body(), headers=auth) for _ in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [201], [r.text for r in responses if r.status_code not in (200, 201)]
    assert len({r.json()["id"] for r in responses}) == 1
    async with create_sessionmaker(engine)() as session:
        made = await session.scalar(text("SELECT count(*) FROM incident WHERE id > :last"), {"last": last_incident})
        announced = await session.scalar(
            select(func.count()).where(Event.id > last_event, Event.type == "incident.created")
        )
    assert (made, announced) == (1, 1)
