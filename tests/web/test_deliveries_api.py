"""Contacts, their CSV import, deliveries and Web Push subscriptions over HTTP: roles, the one error shape, bad input
(a webhook to the metadata service, bad CSV rows, a bad push key), audit rows."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.geojson import Point
from gis import service as gis
from gis.schemas import ResourceIn
from tests.conftest import TokenFor
from tests.support.receivers import BrowserKeys


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
async def duty(token_for: TokenFor) -> dict[str, str]:
    return await token_for("duty_officer", username="duty.contacts")


async def _unit(session: AsyncSession) -> int:
    unit = await gis.create_resource(
        session, data=ResourceIn(type="fire_engine", name="锦江1号车", location=Point.of(104.08, 30.66))
    )
    await session.commit()
    return unit.id


async def test_contacts_are_added_listed_and_checked(
    client: httpx.AsyncClient, session: AsyncSession, duty: dict[str, str], token_for: TokenFor
) -> None:
    unit_id = await _unit(session)
    body = {
        "name": "张队长",
        "agency": "市消防救援支队",
        "unit_id": unit_id,
        "roles": ["commander"],
        "channels": [
            {"type": "sms", "address": "+8613800000000"},
            {"type": "email", "address": "zhang@fire.example.cn"},
            {"type": "webhook", "address": "https://hooks.example.cn/fire"},
            {"type": "push", "address": "crew.1"},
        ],
    }
    created = await client.post("/api/v1/contacts", json=body, headers=duty)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["name"] == "张队长" and out["unit_id"] == unit_id and len(out["channels"]) == 4 and out["on_duty"]
    listed = await client.get(f"/api/v1/contacts?unit_id={unit_id}", headers=duty)
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["id"] == out["id"]
    assert (await client.get("/api/v1/contacts?role=commander", headers=duty)).json()["total"] == 1
    audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "contacts.create"))
    assert audit is not None and audit.target["contact_id"] == out["id"] and audit.actor == "duty.contacts"

    observer = await token_for("observer")
    assert (await client.get("/api/v1/contacts", headers=observer)).status_code == 403
    assert (await client.post("/api/v1/contacts", json=body, headers=observer)).status_code == 403
    assert (await client.get("/api/v1/contacts")).status_code == 401


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ({"type": "webhook", "address": "http://169.254.169.254/latest/meta-data/"}, "metadata"),
        ({"type": "webhook", "address": "http://[::ffff:169.254.169.254]/"}, "metadata"),
        ({"type": "webhook", "address": "http://2852039166/"}, "metadata"),
        ({"type": "webhook", "address": "http://metadata.google.internal/"}, "metadata"),
        ({"type": "webhook", "address": "ftp://example.org/x"}, "http"),
        ({"type": "webhook", "address": "http://user:pw@example.org/"}, "credentials"),
        ({"type": "email", "address": "not-an-address"}, "email"),
        ({"type": "sms", "address": "call me"}, "phone"),
        ({"type": "fax", "address": "123"}, "type"),
    ],
)
async def test_a_contact_with_a_bad_channel_is_422_in_the_one_error_shape(
    client: httpx.AsyncClient, duty: dict[str, str], channel: dict[str, str], words: str
) -> None:
    response = await client.post("/api/v1/contacts", json={"name": "x", "channels": [channel]}, headers=duty)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid" and words in body["detail"].lower(), body


async def test_a_contact_of_a_unit_that_does_not_exist_is_422(client: httpx.AsyncClient, duty: dict[str, str]) -> None:
    body = {"name": "x", "unit_id": 999999, "channels": [{"type": "sms", "address": "13800000000"}]}
    response = await client.post("/api/v1/contacts", json=body, headers=duty)
    assert response.status_code == 422 and response.json()["field"] == "unit_id"


def _csv(*rows: str) -> dict[str, tuple[str, bytes, str]]:
    text = "name,agency,unit_id,roles,email,sms,webhook,push,on_duty\n" + "\n".join(rows) + "\n"
    return {"file": ("contacts.csv", text.encode("utf-8-sig"), "text/csv")}


async def test_a_contacts_csv_is_imported_whole(
    client: httpx.AsyncClient, session: AsyncSession, duty: dict[str, str]
) -> None:
    unit_id = await _unit(session)
    files = _csv(
        f"王班长,市消防救援支队,{unit_id},commander;crew,wang@fire.example.cn,13800000001|13800000002,,crew.2,true",
        '"李, 工程师",市应急管理局,,,li@em.example.cn,,https://hooks.example.cn/em,,no',
    )
    response = await client.post("/api/v1/contacts/import", files=files, headers=duty)
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [c["name"] for c in items] == ["王班长", "李, 工程师"]
    assert items[0]["roles"] == ["commander", "crew"] and items[0]["unit_id"] == unit_id
    assert [c["type"] for c in items[0]["channels"]] == ["email", "sms", "sms", "push"]
    assert items[1]["on_duty"] is False and items[1]["channels"][1]["type"] == "webhook"


async def test_a_contacts_csv_with_bad_rows_imports_nothing_and_reports_each(
    client: httpx.AsyncClient, session: AsyncSession, duty: dict[str, str]
) -> None:
    files = _csv(
        "好人,某局,,,good@example.cn,,,,",
        "坏网址,某局,,,,,http://169.254.169.254/,,",
        ",没有名字,,,a@b.cn,,,,",
        "没有渠道,某局,,,,,,,",
        "未知单位,某局,424242,,c@d.cn,,,,",
        "值班?,某局,,,e@f.cn,,,,maybe",
    )
    response = await client.post("/api/v1/contacts/import", files=files, headers=duty)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid" and "nothing was imported" in body["detail"] and body["refused"] == 5
    rows = {r["row"]: " ".join(r["errors"]) for r in body["rows"]}
    assert sorted(rows) == [3, 4, 5, 6, 7]
    assert "metadata" in rows[3] and "name" in rows[4] and "channels" in rows[5]
    assert "unit 424242" in rows[6] and "on_duty" in rows[7]
    assert (await client.get("/api/v1/contacts", headers=duty)).json()["total"] == 0  # not even the good row

    not_csv = {"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")}
    assert (await client.post("/api/v1/contacts/import", files=not_csv, headers=duty)).status_code == 422
    wrong_header = {"file": ("x.csv", b"who,what\na,b\n", "text/csv")}
    response = await client.post("/api/v1/contacts/import", files=wrong_header, headers=duty)
    assert response.status_code == 422 and "name" in response.json()["detail"]


async def test_push_subscriptions_per_user(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    unit_id = await _unit(session)
    crew = await token_for("field_unit", username="crew.push", unit_id=unit_id)
    keys = BrowserKeys.new()
    body = {
        "endpoint": "https://push.example.org/send/abc",
        "expirationTime": None,
        "keys": {"p256dh": keys.p256dh, "auth": _b64(keys.auth)},
    }
    created = await client.post("/api/v1/push-subscriptions", json=body, headers=crew)
    assert created.status_code == 201, created.text
    again = await client.post("/api/v1/push-subscriptions", json=body, headers=crew)
    assert again.status_code == 201 and again.json()["id"] == created.json()["id"]  # the same endpoint: kept once

    bad_point = {**body, "keys": {"p256dh": _b64(b"\x04" + os.urandom(64)), "auth": _b64(keys.auth)}}
    for bad in (
        bad_point,
        {**body, "keys": {"p256dh": keys.p256dh, "auth": _b64(b"short")}},
        {**body, "keys": {"p256dh": "%%%", "auth": _b64(keys.auth)}},
        {**body, "endpoint": "http://169.254.169.254/push"},
        {**body, "endpoint": "http://push.example.org/not-https"},
    ):
        refused = await client.post("/api/v1/push-subscriptions", json=bad, headers=crew)
        assert refused.status_code == 422 and refused.json()["error"] == "invalid", bad

    other = await token_for("field_unit", username="crew.other", unit_id=unit_id)
    gone = await client.delete(f"/api/v1/push-subscriptions?endpoint={body['endpoint']}", headers=other)
    assert gone.status_code == 404  # not theirs
    gone = await client.delete(f"/api/v1/push-subscriptions?endpoint={body['endpoint']}", headers=crew)
    assert gone.status_code == 204
    gone = await client.delete(f"/api/v1/push-subscriptions?endpoint={body['endpoint']}", headers=crew)
    assert gone.status_code == 404
    observer = await token_for("observer")
    assert (await client.post("/api/v1/push-subscriptions", json=body, headers=observer)).status_code == 403
    rows = await session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("push.%")))
    assert rows and rows >= 4


async def test_deliveries_filter_is_checked(client: httpx.AsyncClient, duty: dict[str, str]) -> None:
    assert (await client.get("/api/v1/deliveries?state=lost", headers=duty)).status_code == 422
    response = await client.get("/api/v1/deliveries?state=queued&limit=5000", headers=duty)
    assert response.status_code == 200 and response.json() == {"items": [], "total": 0}
