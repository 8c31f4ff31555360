"""Signed CAP messages (XML-DSig, as Canada's and FEMA's are): a valid signature by a trusted certificate imports
verified; by a certificate we do not trust, or no signature, unverified; a signature that does not verify (the
message changed after signing) is refused with 422 and nothing is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from core.users import Role, add_user
from tests.support.cap_messages import message
from web.app import create_app

CAP = {"Content-Type": "application/cap+xml"}


def _key_and_cert(name: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem_key, cert.public_bytes(serialization.Encoding.PEM)


def _signed(document: bytes, key: bytes, cert: bytes) -> bytes:
    root = etree.fromstring(document)
    signed = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256").sign(root, key=key, cert=cert)
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


@pytest.fixture(scope="module")
def trusted() -> tuple[bytes, bytes]:
    return _key_and_cert("Trusted Weather Service")


@pytest.fixture
async def signed_client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: Any, tmp_path: Path,
    trusted: tuple[bytes, bytes],
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:  # fmt: skip
    """The app trusting one certificate (COMMANDPOST_CAP_TRUSTED_CERTS), and a duty officer's token."""
    pem = tmp_path / "trusted.pem"
    pem.write_bytes(trusted[1])
    app = create_app(settings.model_copy(update={"cap_trusted_certs": [str(pem)]}), sessionmaker=sessionmaker)
    async with sessionmaker() as session:
        await add_user(session, username="signer_desk", password="signer-desk-pass", role=Role.duty_officer)
        await session.commit()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            token = await client.post(
                "/api/v1/auth/token", data={"username": "signer_desk", "password": "signer-desk-pass"}
            )
            yield client, {"Authorization": f"Bearer {token.json()['access_token']}", **CAP}


async def test_trusted_untrusted_absent_and_broken_signatures(
    signed_client: tuple[httpx.AsyncClient, dict[str, str]], trusted: tuple[bytes, bytes], session: AsyncSession
) -> None:
    client, headers = signed_client
    good = await client.post("/api/v1/cap", content=_signed(message("sig-1"), *trusted), headers=headers)
    assert good.status_code == 201, good.text
    assert good.json()["items"][0]["signature"] == "verified"
    assert "Trusted Weather Service" in good.json()["items"][0]["signer"]

    stranger = _key_and_cert("Someone Else")
    other = await client.post("/api/v1/cap", content=_signed(message("sig-2"), *stranger), headers=headers)
    assert other.status_code == 201 and other.json()["items"][0]["signature"] == "unverified"
    assert "not configured as trusted" in other.json()["items"][0]["signer"]

    plain = await client.post("/api/v1/cap", content=message("sig-3"), headers=headers)
    assert plain.json()["items"][0]["signature"] == "unverified" and plain.json()["items"][0]["signer"] == "not signed"

    for name, keys in (("sig-4", trusted), ("sig-5", stranger)):
        tampered = _signed(message(name), *keys).replace("暴雨红色预警".encode(), "暴雨蓝色预警".encode())
        broken = await client.post("/api/v1/cap", content=tampered, headers=headers)
        assert broken.status_code == 422, broken.text
        assert broken.json()["reason"] == "signature" and "does not verify" in broken.json()["detail"]
    identifiers = (await session.execute(text("SELECT identifier FROM warning ORDER BY id"))).scalars().all()
    assert identifiers == ["sig-1", "sig-2", "sig-3"]
    # A verified message is exported as received: its signature still verifies for the next system.
    exported = await client.get(f"/api/v1/warnings/{good.json()['items'][0]['id']}/cap", headers=headers)
    again = await client.post("/api/v1/cap", content=exported.content, headers=headers)
    assert again.status_code == 200 and again.json()["items"][0]["signature"] == "verified"
