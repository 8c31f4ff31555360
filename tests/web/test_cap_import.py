"""POST /api/v1/cap over every sample in ../shared/standards/cap/samples: each valid one imported with what it
should create (and exported again as valid CAP 1.2), each invalid one refused with its reason and nothing written;
China's GB/T 35965.1 sample through its adapter; the XXE sample and bad input refused without reading a file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.users import Role
from notify.service import validate_cap
from tests.conftest import TokenFor
from tests.support.cap_messages import message, samples_dir

CAP = {"Content-Type": "application/cap+xml"}
SAMPLES = samples_dir()

# What each valid sample must create: msgType, our subtype, colour, whether it has a map area, references_unknown,
# its languages, and the state it is in (the samples' expiry times are long past).
VALID: dict[str, dict[str, Any]] = {
    "google_canada.cap": {
        "msg_type": "Update", "subtype": "lightning", "colour": "blue", "area": "MultiPolygon",
        "references_unknown": True, "languages": ["en-CA", "fr-CA"], "state": "expired",
    },
    "google_earthquake-iso8859-1.cap": {
        "msg_type": "Alert", "subtype": "earthquake", "colour": None, "area": "Point",
        "references_unknown": False, "languages": ["en-US"], "state": "expired",
    },
    "kelvinn_no_info_tag.cap": {
        "msg_type": "Cancel", "subtype": None, "colour": None, "area": None,
        "references_unknown": True, "languages": [], "state": "message",
    },
    "kelvinn_taiwan.cap": {
        "msg_type": "Alert", "subtype": "flood", "colour": "red", "area": None,
        "references_unknown": False, "languages": ["zh-tw"], "state": "expired",
    },
    "oasiscap_v1dot2_appendix_adot1.xml": {
        "msg_type": "Alert", "subtype": "terrorist_attack", "colour": "orange", "area": None,
        "references_unknown": False, "languages": ["en-US"], "state": "active",
    },
    "oasiscap_v1dot2_appendix_adot2.xml": {
        "msg_type": "Alert", "subtype": "lightning", "colour": "orange", "area": "MultiPolygon",
        "references_unknown": False, "languages": ["en-US"], "state": "expired",
    },
    "oasiscap_v1dot2_appendix_adot3.xml": {
        "msg_type": "Update", "subtype": "earthquake", "colour": "blue", "area": "Point",
        "references_unknown": True, "languages": ["en-US"], "state": "active",
    },
    "oasiscap_v1dot2_appendix_adot4.xml": {
        "msg_type": "Alert", "subtype": "major_crime", "colour": "orange", "area": None,
        "references_unknown": False, "languages": ["en-US", "es-US"], "state": "active",
    },
}  # fmt: skip
# Why each invalid sample is refused (the ``reason`` of the 422) and words its detail must hold.
INVALID = {
    "google_canada_errors.cap": ("rule", "references"),
    "google_invalid.cap": ("schema", "scope"),
    "google_xee.cap": ("dtd", "DTD"),
    "kelvinn_invalid_xmlns.cap": ("namespace", "urn:oasis:names:tc:emergency:alerts:1.2"),
}
CHINA = "cn_henan_cma_11B06_gbt35965_style.xml"


async def _warnings(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT count(*) FROM warning")) or 0)


def test_the_samples_are_all_covered() -> None:
    """Every file in the samples directory has its expectation here (a new sample fails until it has one)."""
    valid = {p.name for p in (SAMPLES / "valid").iterdir()}
    invalid = {p.name for p in (SAMPLES / "invalid").iterdir()}
    assert valid == set(VALID)
    assert invalid == {*INVALID, CHINA}


@pytest.fixture
async def desk(token_for: TokenFor) -> dict[str, str]:
    return {**(await token_for(Role.duty_officer)), **CAP}


@pytest.mark.parametrize("name", sorted(VALID))
async def test_each_valid_sample_imports_once(
    name: str, client: httpx.AsyncClient, desk: dict[str, str], session: AsyncSession
) -> None:
    body = (SAMPLES / "valid" / name).read_bytes()
    first = await client.post("/api/v1/cap", content=body, headers=desk)
    assert first.status_code == 201, first.text
    warning = first.json()["items"][0]
    expected = VALID[name]
    got = {key: warning[key] for key in ("msg_type", "subtype", "colour", "references_unknown", "languages", "state")}
    got["area"] = warning["area"]["type"] if warning["area"] else None
    assert got == expected
    assert warning["signature"] == "unverified"
    assert len(warning["infos"]) == len(expected["languages"])
    # The same message again changes nothing.
    again = await client.post("/api/v1/cap", content=body, headers=desk)
    assert again.status_code == 200 and again.json()["items"][0]["id"] == warning["id"]
    assert await _warnings(session) == 1
    # Exported again: the message itself, valid against the OASIS schema.
    exported = await client.get(f"/api/v1/warnings/{warning['id']}/cap", headers=desk)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/cap+xml")
    validate_cap(exported.content)


@pytest.mark.parametrize("name", sorted(INVALID))
async def test_each_invalid_sample_is_refused_with_its_reason(
    name: str, client: httpx.AsyncClient, desk: dict[str, str], session: AsyncSession
) -> None:
    response = await client.post("/api/v1/cap", content=(SAMPLES / "invalid" / name).read_bytes(), headers=desk)
    reason, words = INVALID[name]
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid" and response.json()["reason"] == reason
    assert words in response.json()["detail"]
    assert await _warnings(session) == 0


async def test_china_sample_imports_through_its_adapter(
    client: httpx.AsyncClient, desk: dict[str, str], session: AsyncSession
) -> None:
    response = await client.post("/api/v1/cap", content=(SAMPLES / "invalid" / CHINA).read_bytes(), headers=desk)
    assert response.status_code == 201, response.text
    warning = response.json()["items"][0]
    assert warning["profile"] == "gb-t-35965.1"
    assert (warning["subtype"], warning["category"], warning["colour"], warning["severity"]) == (
        "gale", "natural_disaster", "blue", "Minor",
    )  # fmt: skip
    assert warning["event"] == "大风" and warning["event_codes"] == [{"name": "GB/T 35561", "value": "11B06"}]
    assert warning["sender"] == "41000041600000" and warning["msg_type"] == "Update"
    assert warning["references_unknown"] is True
    assert datetime.fromisoformat(warning["sent"]) == datetime(2020, 2, 5, 2, 45, tzinfo=UTC)  # 10:45 in China
    assert warning["infos"][0]["areas"][0]["geocodes"] == [{"name": "GB/T 2260", "value": "410000000000"}]
    assert warning["state"] == "active"  # no expiry given: in force until updated or cancelled
    # Rebuilt as CAP 1.2 (the national format is not), valid against the OASIS schema.
    exported = await client.get(f"/api/v1/warnings/{warning['id']}/cap", headers=desk)
    validate_cap(exported.content)
    assert b"<severity>Minor</severity>" in exported.content and b"11B06" in exported.content
    assert await _warnings(session) == 1


async def test_an_external_entity_is_never_read(
    client: httpx.AsyncClient, desk: dict[str, str], session: AsyncSession, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a91")
    body = (
        message("xxe-1")
        .replace(
            b'<?xml version="1.0" encoding="UTF-8"?>',
            f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(),
        )
        .replace("成都市气象台发布暴雨红色预警".encode(), b"&xxe;")
    )
    response = await client.post("/api/v1/cap", content=body, headers=desk)
    assert response.status_code == 422 and response.json()["reason"] == "dtd"
    assert "TOP-SECRET" not in response.text
    # Without the DOCTYPE the reference is to an undeclared entity: refused as malformed, still never read.
    bare = message("xxe-2").replace("成都市气象台发布暴雨红色预警".encode(), b"&xxe;")
    response = await client.post("/api/v1/cap", content=bare, headers=desk)
    assert response.status_code == 422 and "TOP-SECRET" not in response.text
    assert await _warnings(session) == 0


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""


def _cap11() -> bytes:
    return message("old-1").replace(b"emergency:cap:1.2", b"emergency:cap:1.1")


def _cap10() -> bytes:
    return message("old-2").replace(b"urn:oasis:names:tc:emergency:cap:1.2", b"http://www.incident.com/cap/1.0")


def _wrapped() -> bytes:
    inner = [message(i).split(b"?>", 1)[1] for i in ("w-1", "w-2")]
    return b"<alerts>" + b"".join(inner) + b"</alerts>"


OPEN_RING = "30.6,104.0 30.6,104.1 30.7,104.1 30.7,104.0"
SWAPPED = "104.0,30.6 104.1,30.6 104.1,30.7 104.0,30.6"


@pytest.mark.parametrize(
    ("case", "body", "reason", "words"),
    [
        ("empty", b"", "empty", "empty"),
        ("blank", b"  \n ", "empty", "empty"),
        ("billion laughs", BILLION_LAUGHS, "dtd", "DTD"),
        ("CAP 1.1", _cap11(), "unsupported_version", "unsupported version"),
        ("CAP 1.0", _cap10(), "unsupported_version", "unsupported version"),
        ("wrong namespace", message("ns-1").replace(b"cap:1.2", b"cap:9.9"), "namespace", "namespace"),
        ("alerts wrapper", _wrapped(), "wrapper", "each <alert>"),
        ("3-point polygon", message("p-1", polygon="30.6,104.0 30.6,104.1 30.6,104.0"), "rule", "at least 4"),
        ("open polygon", message("p-2", polygon=OPEN_RING), "rule", "not closed"),
        ("negative radius", message("c-1", polygon=None, circle="30.6,104.0 -5"), "rule", "negative"),
        ("lon,lat swapped", message("p-3", polygon=SWAPPED), "rule", "latitude"),
        ("update without references", message("u-1", msg_type="Update"), "rule", "references"),
        ("cancel without references", message("u-2", msg_type="Cancel"), "rule", "references"),
        ("expires before sent", message("e-1", expires="2026-12-07T09:00:00+08:00"), "rule", "before the message"),
        ("space in identifier", message("two words"), "rule", "forbids"),
        ("not XML", b"this is not xml", "not_well_formed", "well-formed"),
        ("not an alert", b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "not_cap", "<feed>"),
        ("unknown status", message("s-1", status="Rumour"), "schema", "status"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    case: str,
    body: bytes,
    reason: str,
    words: str,
    client: httpx.AsyncClient,
    desk: dict[str, str],
    session: AsyncSession,
) -> None:
    response = await client.post("/api/v1/cap", content=body, headers=desk)
    assert response.status_code == 422, (case, response.text)
    assert response.json()["reason"] == reason, (case, response.json())
    assert words in response.json()["detail"], (case, response.json())
    assert await _warnings(session) == 0


async def test_a_body_over_the_limit_is_413_before_it_is_read(client: httpx.AsyncClient, desk: dict[str, str]) -> None:
    received = 0

    async def fifty_megabytes() -> Any:
        nonlocal received
        for _ in range(50):
            received += 1
            yield b"<" * 1_000_000

    headers = {**desk, "Content-Length": str(50_000_000)}
    response = await client.post("/api/v1/cap", content=fifty_megabytes(), headers=headers)
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert received <= 1  # answered on the declared length; the body was not streamed in
    # Streamed without a length, it is cut off as soon as it passes the limit.
    response = await client.post("/api/v1/cap", content=fifty_megabytes(), headers=desk)
    assert response.status_code == 413


async def test_other_media_types_are_refused(client: httpx.AsyncClient, desk: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/cap", content=b'{"a": 1}', headers={**desk, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "application/cap+xml" in response.json()["detail"]


async def test_who_may_import_and_read(client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession) -> None:
    observer = await token_for(Role.observer)
    refused = await client.post("/api/v1/cap", content=message("r-1"), headers={**observer, **CAP})
    assert refused.status_code == 403
    assert (await client.post("/api/v1/cap", content=message("r-1"), headers=CAP)).status_code == 401
    commander = await token_for(Role.commander)
    made = await client.post("/api/v1/cap", content=message("r-1"), headers={**commander, **CAP})
    assert made.status_code == 201
    listed = await client.get("/api/v1/warnings", headers=observer)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    gateway = await token_for(Role.gateway)
    assert (await client.get("/api/v1/warnings", headers=gateway)).status_code == 403
    rows = (
        await session.execute(
            text("SELECT actor, outcome FROM audit_log WHERE action = 'warnings.import_cap' ORDER BY id")
        )
    ).all()
    assert [r[1] for r in rows] == ["forbidden", "unauthenticated", "ok"]
