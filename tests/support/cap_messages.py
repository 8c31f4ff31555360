"""CAP 1.2 messages for tests and benches: one template, any identifier, type, references, area or expiry."""

from __future__ import annotations

from pathlib import Path

from core.settings import get_settings

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# A box around central Chengdu (lat,lon pairs, closed): the incidents of the tests sit inside it.
CHENGDU_BOX = "30.60,104.00 30.60,104.12 30.70,104.12 30.70,104.00 30.60,104.00"


def samples_dir() -> Path:
    """../shared/standards/cap/samples (beside the shared data folder)."""
    return get_settings().shared_data.parent / "standards" / "cap" / "samples"


def message(
    identifier: str,
    *,
    msg_type: str = "Alert",
    sender: str = "cma@weather.example.cn",
    sent: str = "2026-12-07T10:00:00+08:00",
    status: str = "Actual",
    references: str | None = None,
    expires: str | None = "2099-01-01T00:00:00+08:00",
    polygon: str | None = CHENGDU_BOX,
    circle: str | None = None,
    event: str = "暴雨",
    headline: str = "成都市气象台发布暴雨红色预警",
    severity: str = "Extreme",
    description: str = "预计未来3小时内成都市区将出现100毫米以上降雨。",
    event_code: str | None = None,
    extra_area: str = "",
) -> bytes:
    """One message; ``references`` as CAP writes them (``sender,identifier,sent`` triples)."""
    refs = f"<references>{references}</references>" if references is not None else ""
    shape = (f"<polygon>{polygon}</polygon>" if polygon else "") + (f"<circle>{circle}</circle>" if circle else "")
    code = f"<eventCode><valueName>SAME</valueName><value>{event_code}</value></eventCode>" if event_code else ""
    ends = f"<expires>{expires}</expires>" if expires else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP_NS}">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>{severity}</severity>
    <certainty>Likely</certainty>
    {code}
    {ends}
    <senderName>成都市气象台</senderName>
    <headline>{headline}</headline>
    <description>{description}</description>
    <area>
      <areaDesc>成都市中心城区</areaDesc>
      {shape}
      {extra_area}
    </area>
  </info>
</alert>
""".encode()
