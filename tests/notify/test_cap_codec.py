"""The CAP 1.2 codec without a server: round trips of every valid sample through the exporter, the checks that do
not depend on the samples, China's adapter on codes it does not know, colour levels, and that a web worker does not
load the XML libraries until a CAP message arrives."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import Invalid
from notify.cap import china, export, parse, rules
from notify.cap.model import CapInfo
from tests.support.cap_messages import message, samples_dir

ROOT = Path(__file__).resolve().parents[2]
VALID = sorted((samples_dir() / "valid").iterdir())


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_sample_survives_a_round_trip_through_the_exporter(path: Path) -> None:
    alert = parse.parse(path.read_bytes())
    written = export.to_xml(alert)
    parse.validate(parse.load(written))
    again = parse.parse(written)
    assert [i.as_json() for i in again.infos] == [i.as_json() for i in alert.infos]
    assert (again.identifier, again.sender, again.sent, again.references) == (
        alert.identifier, alert.sender, alert.sent, alert.references,
    )  # fmt: skip


def test_china_sample_exports_as_valid_cap() -> None:
    alert = parse.parse((samples_dir() / "invalid" / "cn_henan_cma_11B06_gbt35965_style.xml").read_bytes())
    written = export.to_xml(replace(alert, infos=tuple(replace(i, severity="Minor") for i in alert.infos)))
    parse.validate(parse.load(written))


def test_a_dtd_is_refused_in_any_encoding() -> None:
    body = message("u16").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    body = body.replace("?>", '?>\n<!DOCTYPE alert [<!ENTITY x "y">]>', 1)
    with pytest.raises(Invalid) as refused:
        parse.parse(body.encode("utf-16"))
    assert refused.value.extra["reason"] == "dtd"


def test_utc_written_as_z_is_not_cap() -> None:
    with pytest.raises(Invalid) as refused:
        parse.parse(message("z-1", sent="2026-12-07T02:00:00Z"))
    assert refused.value.extra["reason"] == "schema" and "sent" in refused.value.detail


def test_references_written_short_are_kept() -> None:
    refs = parse.references("a@b,id-1,2026-01-01T00:00:00+00:00 id-2 c@d,id-3", sender="me")
    assert [(r.sender, r.identifier, r.sent) for r in refs] == [
        ("a@b", "id-1", "2026-01-01T00:00:00+00:00"), ("me", "id-2", None), ("c@d", "id-3", None),
    ]  # fmt: skip


def test_polygon_pairs_may_have_spaces_after_the_comma() -> None:
    ring = rules.polygon("30.6, 104.0 30.6, 104.1 30.7, 104.1 30.6, 104.0", where="x")
    assert ring[0] == (30.6, 104.0) and len(ring) == 4


def test_china_codes_not_in_the_table_are_kept_as_they_came() -> None:
    known, unknown = china.event("11B03"), china.event("11B99")
    assert (known.zh, known.subtype) == ("暴雨", "rainstorm")
    assert (unknown.zh, unknown.subtype, unknown.category, unknown.cap_category) == (
        "11B99", None, "natural_disaster", "Met",
    )  # fmt: skip
    assert china.colour("Orange") == ("orange", "Severe") and china.colour("红色") == ("red", "Extreme")


def test_colour_levels_from_parameters_and_headlines() -> None:
    base = CapInfo(language="en", categories=("Met",), event="Wind", urgency="Future", severity="Unknown",
                   certainty="Likely")  # fmt: skip
    assert rules.colour_of(replace(base, parameters=(("awareness_level", "3; orange; Severe"),))) == "orange"
    assert rules.colour_of(replace(base, headline="Yellow warning of wind")) == "yellow"
    assert rules.colour_of(replace(base, headline="广东省发布台风蓝色预警")) == "blue"
    assert rules.colour_of(replace(base, headline="Amber Alert")) is None  # a child abduction, not a colour
    assert rules.colour_of(replace(base, severity="Severe", headline="红色预警降为橙色")) is None  # severity says


def test_the_web_worker_loads_no_xml_library_until_a_message_arrives() -> None:
    code = (
        "import sys, web.app; web.app.create_app(); "
        "print(sorted(m for m in ('lxml', 'signxml', 'httpx', 'httpcore') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_cancel_may_repeat_an_expiry_that_has_passed() -> None:
    late = message("cx-1", msg_type="Cancel", references="a@b,x-1,2026-12-07T09:00:00+08:00",
                   expires="2026-12-07T09:30:00+08:00")  # fmt: skip
    assert parse.parse(late).msg_type == "Cancel"
    with pytest.raises(Invalid):
        parse.parse(message("cx-2", expires="2026-12-07T09:30:00+08:00"))
