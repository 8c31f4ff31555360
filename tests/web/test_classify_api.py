"""``POST /api/v1/classify`` over HTTP: the shape, given facts, roles, bad input, and that it writes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.events import Event
from tests.conftest import TokenFor


@pytest.fixture
async def auth(token_for: TokenFor) -> dict[str, str]:
    return await token_for("observer")


async def test_shape_and_classification(client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession) -> None:
    before = [await session.scalar(select(func.count()).select_from(table)) for table in (AuditEntry, Event)]
    text = "四川省凉山州一煤矿发生瓦斯爆炸事故，造成12人死亡，5人受伤，直接经济损失约3200万元。"
    response = await client.post("/api/v1/classify", json={"text": text}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"category", "subtype", "confidence", "matched", "facts", "grade"}
    assert (body["category"], body["subtype"]) == ("accident_disaster", "mine")
    assert 0 < body["confidence"] <= 1 and body["matched"]
    assert body["facts"]["deaths"] == 12 and body["facts"]["economic_loss_cny"] == 32_000_000
    grade = body["grade"]
    assert grade["level"] == "II" and grade["rule_id"] == "CN-Decree493-2007" and grade["rule_version"]
    assert any(b["fact"] == "deaths" for b in grade["basis"])
    # Pure: no audit row, no event.
    assert [await session.scalar(select(func.count()).select_from(table)) for table in (AuditEntry, Event)] == before


async def test_given_facts_win(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    text = "A bus overturned on the expressway, killing 2 people."
    response = await client.post("/api/v1/classify", json={"text": text, "facts": {"deaths": 31}}, headers=auth)
    body = response.json()
    assert body["facts"]["deaths"] == 31 and body["grade"]["level"] == "I"
    assert body["fact_sources"]["deaths"] == "given"


async def test_no_event_is_a_null_classification(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post("/api/v1/classify", json={"text": "周四下午三点召开值班例会"}, headers=auth)
    body = response.json()
    assert response.status_code == 200
    assert (body["category"], body["subtype"], body["confidence"], body["grade"]["level"]) == (None, None, 0, None)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("", 422),
        ("   \n\t ", 422),
        ("x" * 20_001, 422),
        ("火" * 20_000, 200),
        ("\x07\x1b[31m fire", 200),
        ("\x00\x07\x1b[31m", 422),  # NUL is refused at the door for every JSON string (web/door.py)
        ("1234567890" * 10, 200),
        ("🔥🚒😱🌊", 200),
    ],
    ids=["empty", "blank", "too-long", "longest", "control", "nul", "digits", "emoji"],
)
async def test_hostile_text_is_422_or_a_well_formed_answer(
    client: httpx.AsyncClient, auth: dict[str, str], text: str, status: int
) -> None:
    response = await client.post("/api/v1/classify", json={"text": text}, headers=auth)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["error"] == "invalid" and "text" in response.json()["detail"]
    else:
        assert "grade" in response.json() and 0 <= response.json()["confidence"] <= 1


async def test_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/classify", json={"text": "fire"})).status_code == 401
