"""XML-DSig signatures on CAP messages (Canada's NAAD, FEMA IPAWS and others sign theirs), judged against the
certificates an operator trusts (``COMMANDPOST_CAP_TRUSTED_CERTS``: PEM files).

- no signature: imported, unverified;
- a signature by a trusted certificate that verifies: verified;
- a signature that verifies with the key it carries, but that key is not trusted: imported, unverified (and said so);
- a signature made with SHA-1 (deprecated, forgeable): cannot prove anything; imported, unverified;
- a signature that does not verify (the message was changed after signing, or the signature is forged): refused.

signxml (and cryptography) load on the first signed message, not with the web worker.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from core.errors import Invalid
from notify.cap.model import SignatureState

DSIG = "http://www.w3.org/2000/09/xmldsig#"
_local = threading.local()


@dataclass(frozen=True)
class Verdict:
    state: SignatureState
    note: str  # the trusted signer's subject, or why the message is unverified


def _parser() -> etree.XMLParser:
    # Unlike the codec's parser this one keeps comments and processing instructions: they may be signed.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        _local.parser = parser
    return parser


@lru_cache(maxsize=8)
def _load_trusted(paths: tuple[str, ...]) -> tuple[bytes, ...]:
    """The PEM certificates in the trusted files (a file may hold several)."""
    certs: list[bytes] = []
    for path in paths:
        text = Path(path).read_bytes()
        for block in text.split(b"-----END CERTIFICATE-----"):
            start = block.find(b"-----BEGIN CERTIFICATE-----")
            if start >= 0:
                certs.append(block[start:] + b"-----END CERTIFICATE-----\n")
    return tuple(certs)


def _refuse(detail: str) -> Invalid:
    return Invalid(detail, field="body", reason="signature")


def _subject(pem: bytes) -> str:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()


def _embedded_certificate(signature: etree._Element) -> bytes | None:
    node = signature.find(f".//{{{DSIG}}}X509Certificate")
    if node is None or not (node.text or "").strip():
        return None
    body = "".join((node.text or "").split())
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


def _uses_sha1(signature: etree._Element) -> bool:
    for name in ("SignatureMethod", "DigestMethod"):
        for node in signature.iter(f"{{{DSIG}}}{name}"):
            algorithm = (node.get("Algorithm") or "").lower()
            if algorithm.endswith(("sha1", "#sha1")):
                return True
    return False


def judge(data: bytes, *, trusted_files: Sequence[str] = ()) -> Verdict:
    """The message's signature, judged (see the module docstring); raises ``Invalid`` for one that fails."""
    root = etree.fromstring(data, _parser())
    signature = root.find(f"{{{DSIG}}}Signature")
    if signature is None:
        return Verdict(SignatureState.unverified, "not signed")
    if _uses_sha1(signature):
        return Verdict(SignatureState.unverified, "signed with SHA-1, which no longer proves who signed")
    from signxml import XMLVerifier
    from signxml.exceptions import InvalidCertificate, InvalidInput, InvalidSignature

    trusted = _load_trusted(tuple(trusted_files))
    embedded = _embedded_certificate(signature)
    for pem in trusted:  # the trusted certificates first: one of them verifying is all we need
        try:
            result = XMLVerifier().verify(root, x509_cert=pem.decode(), expect_config=_config(x509=True))
        except InvalidCertificate as exc:
            raise _refuse(f"the signing certificate is not valid: {exc}") from None
        except (InvalidSignature, InvalidInput) as exc:
            if embedded is not None and _der(embedded) == _der(pem):  # the signer is trusted; the message changed
                raise _refuse(f"the message's XML signature does not verify: {exc}") from None
            continue
        _covers_alert(result)
        return Verdict(SignatureState.verified, _subject(pem))
    # Not by a trusted certificate: is it at least intact under the key it carries? If not, it was tampered with.
    try:
        if embedded is not None:
            result = XMLVerifier().verify(root, x509_cert=embedded.decode(), expect_config=_config(x509=True))
            who = f"signed by {_subject(embedded)}, a certificate not configured as trusted"
        else:
            result = XMLVerifier().verify(root, expect_config=_config(x509=False))
            who = "signed with a bare key, not by a certificate we trust"
    except InvalidCertificate as exc:
        return Verdict(SignatureState.unverified, f"signed, but its certificate cannot be read: {exc}")
    except (InvalidSignature, InvalidInput) as exc:
        raise _refuse(f"the message's XML signature does not verify: {exc}") from None
    _covers_alert(result)
    return Verdict(SignatureState.unverified, who)


def _config(*, x509: bool) -> Any:
    from signxml import SignatureConfiguration

    return SignatureConfiguration(require_x509=x509, ignore_ambiguous_key_info=True)


def _covers_alert(result: object) -> None:
    verified = result[0] if isinstance(result, list) else result
    signed = getattr(verified, "signed_xml", None)
    if signed is None or etree.QName(signed).localname != "alert":
        raise _refuse("the XML signature does not cover the whole <alert>")


def _der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)
