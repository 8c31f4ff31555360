"""Our warnings as an Atom feed (RFC 4287) that another CAP system can subscribe to: one entry per warning in force,
linking its CAP 1.2 document (``application/cap+xml``), as the national and agency CAP feeds do."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from notify.cap.export import cap_time
from notify.service import AtomEntry

ATOM = "http://www.w3.org/2005/Atom"
_A = "{" + ATOM + "}"


def feed(*, feed_id: str, title: str, self_url: str, updated: datetime, entries: list[AtomEntry]) -> bytes:
    root = etree.Element(_A + "feed", nsmap={None: ATOM})
    etree.SubElement(root, _A + "id").text = feed_id
    etree.SubElement(root, _A + "title").text = title
    etree.SubElement(root, _A + "updated").text = cap_time(updated)
    etree.SubElement(root, _A + "link", rel="self", href=self_url, type="application/atom+xml")
    author = etree.SubElement(root, _A + "author")
    etree.SubElement(author, _A + "name").text = "Commandpost"
    for entry in entries:
        node = etree.SubElement(root, _A + "entry")
        etree.SubElement(node, _A + "id").text = entry.id
        etree.SubElement(node, _A + "title").text = entry.title
        etree.SubElement(node, _A + "updated").text = cap_time(entry.updated)
        if entry.summary:
            etree.SubElement(node, _A + "summary").text = entry.summary
        etree.SubElement(node, _A + "link", rel="alternate", type="application/cap+xml", href=entry.cap_url)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
