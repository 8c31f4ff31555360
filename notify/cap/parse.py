"""Reading a CAP message we did not write: safely, strictly, and with reasons a person can act on.

Order of the checks, each refusing with its own ``reason``:
1. size (the route refuses a larger body with 413 before reading it; this is the second line) and emptiness;
2. any ``<!DOCTYPE``: CAP has no DTD, so a document that declares one (an XXE or a billion-laughs attempt) is refused
   before the parser sees it; the parser itself never resolves entities, loads a DTD or touches the network;
3. well-formedness;
4. what the root element is: CAP 1.2's ``alert`` goes on; CAP 1.0/1.1 are an "unsupported version"; an ``alerts``
   wrapper, another namespace or another element are refused by name; an ``alert`` without any namespace in China's
   GB/T 35965.1 style goes to ``notify.cap.china``;
5. the OASIS schema (``CAP-v1.2.xsd``, loaded once per process, on first use);
6. the rules the schema cannot express (``rules``).
A refusal leaves nothing behind: this module only reads.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

from core.errors import Invalid, TooLarge
from notify.cap import rules
from notify.cap.model import (
    CAP_NS,
    OLDER_CAP_NS,
    CapAlert,
    CapArea,
    CapInfo,
    CapResource,
    Circle,
    Reference,
)

SCHEMA_PATH = Path(__file__).with_name("CAP-v1.2.xsd")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_NS = {"c": CAP_NS}
_C = "{" + CAP_NS + "}"
# The prolog (declaration, comments, processing instructions) and then a DOCTYPE: refused before parsing.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_local = threading.local()


def refuse(reason: str, detail: str) -> Invalid:
    """The one error every refusal raises (422, with a ``reason`` code beside the sentence)."""
    return Invalid(detail, field="body", reason=reason)


def _parser() -> etree.XMLParser:
    # One parser per thread (lxml parsers are not to be shared between threads); every dangerous feature off.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, compiled once per process (the first message pays for it)."""
    document = etree.parse(str(SCHEMA_PATH), _parser())
    return etree.XMLSchema(document)


def _declares_dtd(data: bytes) -> bool:
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: look at it as text
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    elif b"\x00" in head[:64]:
        head = head.replace(b"\x00", b"")
    return _DOCTYPE.search(head) is not None


def load(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """The document's root element, parsed safely; refuses empty, oversized, DTD-bearing or malformed documents."""
    if len(data) > max_bytes:
        raise TooLarge(f"the message is larger than the {max_bytes // 1024} KiB accepted", reason="too_large")
    if not data.strip():
        raise refuse("empty", "the body is empty: send one CAP 1.2 <alert> document")
    if _declares_dtd(data):
        raise refuse(
            "dtd",
            "the document declares a DTD (<!DOCTYPE ...>); CAP messages have none, and entities are never expanded "
            "here (XXE and entity-expansion documents are refused)",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise refuse("not_well_formed", f"the body is not well-formed XML: {exc}") from None
    if root is None:
        raise refuse("not_well_formed", "the body holds no XML element")
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise refuse("dtd", "the document declares a DTD; CAP messages have none")
    return root


def kind_of(root: etree._Element) -> str:
    """``cap12``, or ``china`` for an un-namespaced GB/T 35965.1 alert; refuses every other root."""
    qname = etree.QName(root)
    local, namespace = qname.localname, qname.namespace or ""
    if local == "alerts":
        raise refuse(
            "wrapper",
            "an <alerts> wrapper holding several messages is not a CAP message: send each <alert> on its own",
        )
    if local != "alert":
        raise refuse("not_cap", f"the root element is <{local}>, not a CAP <alert>")
    if namespace == CAP_NS:
        return "cap12"
    if namespace in OLDER_CAP_NS:
        version = OLDER_CAP_NS[namespace]
        raise refuse(
            "unsupported_version",
            f"unsupported version: this is CAP {version} ({namespace}); only CAP 1.2 ({CAP_NS}) is accepted",
        )
    if not namespace:
        return "china"
    raise refuse(
        "namespace",
        f"the <alert> element is in namespace {namespace!r}, not CAP 1.2's {CAP_NS!r}",
    )


def validate(root: etree._Element) -> None:
    """Refuse a document the OASIS schema does not accept, naming the first problem and its line."""
    checker = schema()
    if checker.validate(root):
        return
    error = checker.error_log.filter_from_errors()[0] if checker.error_log else None
    message = (error.message if error else "not valid").replace(_C, "cap:")
    where = f"line {error.line}: " if error and error.line else ""
    raise refuse("schema", f"the message is not valid CAP 1.2: {where}{message}")


# ------------------------------------------------------------------------------------------------ reading values


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(_C + name)
    if child is None or child.text is None:
        return None
    value = child.text.strip()
    return value or None


def _texts(element: etree._Element, name: str) -> tuple[str, ...]:
    return tuple(t for t in ((c.text or "").strip() for c in element.iterfind(_C + name)) if t)


def _pairs(element: etree._Element, name: str) -> tuple[tuple[str, str], ...]:
    out = []
    for child in element.iterfind(_C + name):
        key, value = _text(child, "valueName"), _text(child, "value")
        if key is not None or value is not None:
            out.append((key or "", value or ""))
    return tuple(out)


def parse_time(value: str | None, *, field: str) -> datetime | None:
    """A CAP date-time (the schema has checked its form); None for none."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise refuse("rule", f"{field} {value!r} is not a date and time") from None
    if parsed.tzinfo is None:
        raise refuse("rule", f"{field} {value!r} has no time zone offset")
    return parsed


def _area(element: etree._Element, where: str) -> CapArea:
    desc = _text(element, "areaDesc") or ""
    label = f"{where} area {desc[:60]!r}"
    polygons = tuple(rules.polygon(t, where=label) for t in _texts(element, "polygon"))
    circles: tuple[Circle, ...] = tuple(rules.circle(t, where=label) for t in _texts(element, "circle"))
    altitude, ceiling = _text(element, "altitude"), _text(element, "ceiling")
    return CapArea(
        desc=desc,
        polygons=polygons,
        circles=circles,
        geocodes=_pairs(element, "geocode"),
        altitude=float(altitude) if altitude else None,
        ceiling=float(ceiling) if ceiling else None,
    )


def _resource(element: etree._Element) -> CapResource:
    size = _text(element, "size")
    return CapResource(
        desc=_text(element, "resourceDesc") or "",
        mime_type=_text(element, "mimeType"),
        size=int(size) if size and size.isdigit() else None,
        uri=_text(element, "uri"),
        digest=_text(element, "digest"),
    )


def _info(element: etree._Element, index: int) -> CapInfo:
    where = f"info {index + 1}"
    parameters = _pairs(element, "parameter")
    info = CapInfo(
        language=_text(element, "language") or "en-US",
        categories=_texts(element, "category"),
        event=_text(element, "event") or "",
        response_types=_texts(element, "responseType"),
        urgency=_text(element, "urgency") or "Unknown",
        severity=_text(element, "severity") or "Unknown",
        certainty=_text(element, "certainty") or "Unknown",
        audience=_text(element, "audience"),
        event_codes=_pairs(element, "eventCode"),
        effective=parse_time(_text(element, "effective"), field=f"{where} effective"),
        onset=parse_time(_text(element, "onset"), field=f"{where} onset"),
        expires=parse_time(_text(element, "expires"), field=f"{where} expires"),
        sender_name=_text(element, "senderName"),
        headline=_text(element, "headline"),
        description=_text(element, "description"),
        instruction=_text(element, "instruction"),
        web=_text(element, "web"),
        contact=_text(element, "contact"),
        parameters=parameters,
        resources=tuple(_resource(r) for r in element.iterfind(_C + "resource")),
        areas=tuple(_area(a, where) for a in element.iterfind(_C + "area")),
    )
    colour = rules.colour_of(info)
    if colour is None:
        return info
    return _with_colour(info, colour)


def _with_colour(info: CapInfo, colour: str) -> CapInfo:
    from dataclasses import replace

    return replace(info, colour=colour)


def references(text: str | None, *, sender: str) -> tuple[Reference, ...]:
    """``<references>``: space-separated ``sender,identifier,sent`` triples. A triple written short (an identifier
    alone, as some senders do) is kept with what it has, the message's own sender standing in for a missing one."""
    out = []
    for token in (text or "").split():
        parts = token.split(",")
        if len(parts) >= 3:
            out.append(Reference(parts[0], ",".join(parts[1:-1]), parts[-1]))
        elif len(parts) == 2:
            out.append(Reference(parts[0], parts[1], None))
        elif parts[0]:
            out.append(Reference(sender, parts[0], None))
    return tuple(out)


def read_alert(root: etree._Element, *, original: bytes | None = None) -> CapAlert:
    """A schema-valid CAP 1.2 ``<alert>`` as data, checked against the rules the schema cannot express."""
    identifier = _text(root, "identifier") or ""
    sender = _text(root, "sender") or ""
    sent = parse_time(_text(root, "sent"), field="sent")
    assert sent is not None  # required by the schema
    infos = tuple(_info(info, i) for i, info in enumerate(root.iterfind(_C + "info")))
    alert = CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=_text(root, "status") or "",
        msg_type=_text(root, "msgType") or "",
        scope=_text(root, "scope") or "",
        source=_text(root, "source"),
        restriction=_text(root, "restriction"),
        addresses=_text(root, "addresses"),
        codes=_texts(root, "code"),
        note=_text(root, "note"),
        references=references(_text(root, "references"), sender=sender),
        incidents=_text(root, "incidents"),
        infos=infos,
        original=original,
        signed=root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None,
    )
    rules.check(alert, references_given=root.find(_C + "references") is not None)
    return alert


def parse(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CapAlert:
    """One message, CAP 1.2 or China's GB/T 35965.1 style, read and checked; refuses anything else (``Invalid``
    with a ``reason``, or ``TooLarge``). Signatures are judged by ``notify.cap.signature``, not here."""
    root = load(data, max_bytes=max_bytes)
    if kind_of(root) == "china":
        from notify.cap import china as china_format

        return china_format.read(root)
    validate(root)
    return read_alert(root, original=data)
