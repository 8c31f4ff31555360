"""One check of category/subtype keys: a report, an edit, the list's filters and the pure intake core refuse a bad
key with the same answer, because one function (``incidents.taxonomy.check_keys``) decides it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.errors import Invalid
from incidents.service import classify_report
from tests.conftest import TokenFor

FIRE = "成都市武侯区一居民楼发生火灾，造成3人死亡，5人受伤。"
REPORT = {"description": FIRE, "location": {"type": "Point", "coordinates": [104.0430, 30.6420]}}

BAD = [
    ({"category": "alien_invasion"}, "category"),
    ({"subtype": "volcano_on_mars"}, "subtype"),
    ({"category": "public_health", "subtype": "building_fire"}, "subtype"),
    ({"category": "alien_invasion", "subtype": "volcano_on_mars"}, "category"),
]


def _answer(response: httpx.Response) -> tuple[str, str, str]:
    assert response.status_code == 422, response.text
    body = response.json()
    return body["error"], body["field"], body["detail"]


@pytest.mark.parametrize(("keys", "field"), BAD, ids=["category", "subtype", "mismatch", "both"])
async def test_every_door_gives_the_same_answer(
    client: httpx.AsyncClient, token_for: TokenFor, keys: dict[str, str], field: str
) -> None:
    officer = await token_for("duty_officer", username="officer.keys")
    made = await client.post("/api/v1/incidents", json=REPORT, headers=officer)
    assert made.status_code == 201, made.text
    url = f"/api/v1/incidents/{made.json()['id']}"

    created = _answer(await client.post("/api/v1/incidents", json={**REPORT, **keys}, headers=officer))
    edited = _answer(await client.patch(url, json={**keys, "version": 1}, headers=officer))
    listed = _answer(await client.get("/api/v1/incidents", params=keys, headers=officer))
    with pytest.raises(Invalid) as pure:
        classify_report(FIRE, **keys)

    assert created == edited == listed == (pure.value.code, pure.value.field, pure.value.detail)
    assert created[1] == field, created
    if field == "category":
        assert "known: natural_disaster" in created[2], "the answer lists the keys a person may use"
    unchanged: dict[str, Any] = (await client.get(url, headers=officer)).json()
    assert (unchanged["version"], unchanged["subtype"]) == (1, "building_fire"), "a refused edit changes nothing"
