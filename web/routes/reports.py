"""After-action reports and response-time percentiles (command/reports.py): JSON, and the report as a printable
page (web/report_page.py) in Chinese or English. For the command room's roles (commanders, duty officers,
observers, admins); any other role is refused (403) before the incident is looked at, so the answer is the same
for an incident that exists and one that does not (as for an incident's caller)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import HTMLResponse

from command import service as command
from command.schemas import IncidentReport, ResponseTimes
from core.errors import Invalid
from core.users import Role
from incidents import service as incidents
from web import report_page
from web.deps import CurrentUser, SessionDep, caller_of, require

router = APIRouter(tags=["reports"])

Analyst = Annotated[CurrentUser, Depends(require(Role.commander, Role.duty_officer, Role.observer))]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai or UTC)", field="tz") from None


@router.get(
    "/incidents/{incident_id}/report",
    name="reports.incident",
    response_model=IncidentReport,
    responses={200: {"content": {"text/html": {}}, "description": "the report (JSON, or the page with format=html)"}},
)
async def incident_report(
    session: SessionDep,
    user: Analyst,
    incident_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    format: Annotated[Literal["json", "html"], Query(description="html: the printable page")] = "json",
    lang: Annotated[Literal["zh", "en"] | None, Query(description="the page's language (else Accept-Language)")] = None,
    tz: Annotated[str, Query(min_length=1, max_length=64, description="the page's time zone (IANA)")] = "UTC",
    accept_language: Annotated[str | None, Header()] = None,  # read only in part: see report_page.language_of
) -> IncidentReport | HTMLResponse:
    """The after-action report (评估) of an incident, every figure from its event log: the timeline, each unit's
    response times (reported → dispatched → acknowledged → en route → on scene → transporting → at hospital →
    cleared; the phone's times where its reports carried them), plan tasks done late, escalations, failed
    deliveries, and a map of the units' tracks (GeoJSON). ``partial: true`` while the incident is open."""
    await incidents.get_incident(session, incident_id=incident_id, scope=command.incident_scope(caller_of(user)))
    report = await command.incident_report(session, incident_id=incident_id)
    if format == "json":
        return report
    language = lang or report_page.language_of(accept_language)
    page = report_page.render(report, lang=language, zone=_zone(tz))
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Content-Language": language})


@router.get("/reports/response-times", name="reports.response_times")
async def response_times(
    session: SessionDep,
    user: Analyst,
    from_: Annotated[datetime, Query(alias="from", description="start of the period (RFC 3339), inclusive")],
    to: Annotated[datetime, Query(description="end of the period (RFC 3339), exclusive; at most 366 days on")],
) -> ResponseTimes:
    """Percentiles (p50, p90, p95, in seconds, with counts) of the dispatch, acknowledge, on-scene and overall
    response intervals across the incidents logged in the period (a caller scoped to jurisdictions: those logged
    there): by category and grade, and over all (first)."""
    jurisdictions = await command.jurisdictions_of(session, caller_of(user))
    return await command.response_times(session, from_at=from_, to_at=to, jurisdictions=jurisdictions)
