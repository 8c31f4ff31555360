"""Outbound delivery: contacts (and their CSV import), the deliveries and their tries, users' Web Push
subscriptions (API.md "Delivery and contacts")."""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from core.users import Role
from gis import service as gis
from notify import service
from notify.schemas import (
    ContactIn,
    ContactOut,
    DeliveryOut,
    PushKeyOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from web.audit import add_target
from web.deps import CurrentUser, ScopeDep, SessionDep, SettingsDep, require
from web.door import BodyKind, body_limit
from web.listing import ListOf, PageDep, list_of
from web.openapi import multipart_body
from web.routes.uploads import receive_upload

router = APIRouter(tags=["delivery"])

# Contacts hold people's numbers and addresses: the command room's roles, not observers.
ContactKeeper = Annotated[CurrentUser, Depends(require(Role.commander, Role.duty_officer))]
Subscriber = Annotated[CurrentUser, Depends(require(Role.field_unit, Role.commander, Role.duty_officer))]
DeliveryState = Literal["queued", "sent", "failed", "dead", "cancelled"]


@router.get("/contacts", name="contacts.list")
async def list_contacts(
    session: SessionDep,
    user: ContactKeeper,
    page: PageDep,
    agency: Annotated[str | None, Query(max_length=500)] = None,
    unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    role: Annotated[str | None, Query(max_length=48)] = None,
) -> ListOf[ContactOut]:
    """Contacts, oldest first; of one agency, unit or role if asked."""
    items, total = await service.list_contacts(
        session, agency=agency, unit_id=unit_id, role=role, limit=page.limit, offset=page.offset
    )
    return list_of(items, total)


@router.post("/contacts", name="contacts.create", status_code=201)
async def create_contact(body: ContactIn, request: Request, session: SessionDep, user: ContactKeeper) -> ContactOut:
    """A person or agency with its channels (``webhook`` URL, ``email``, ``sms`` or ``voice`` number, ``push``: a
    user name).
    A webhook URL that is not http(s), or points at a link-local or cloud metadata address, is 422."""
    contact = await service.add_contact(
        session, body=body, actor=user.username, missing_units=functools.partial(gis.missing_resources, session)
    )
    add_target(request, contact_id=contact.id)
    return contact


_IMPORT_BODY: dict[str, Any] = {
    **body_limit(BodyKind.upload),
    **multipart_body({"file": {"type": "string", "format": "binary"}}, required=["file"]),
}


@router.post("/contacts/import", name="contacts.import", status_code=201, openapi_extra=_IMPORT_BODY)
async def import_contacts(
    request: Request, session: SessionDep, settings: SettingsDep, user: ContactKeeper
) -> ListOf[ContactOut]:
    """A CSV (UTF-8) as multipart field ``file``, columns ``name, agency, unit_id, roles, email, sms, voice, webhook,
    push, on_duty`` (several values in a cell separated by ``;``). All rows or none: any bad row is 422 with ``rows``, a
    report of every bad row (its line) and why."""
    async with receive_upload(request, settings) as upload:
        content = await asyncio.to_thread(upload.path.read_bytes)
    made = await service.import_contacts(
        session,
        content=content,
        actor=user.username,
        max_rows=settings.contacts_import_max_rows,
        missing_units=functools.partial(gis.missing_resources, session),
    )
    add_target(request, imported=len(made))
    return list_of(made)


@router.get("/deliveries", name="deliveries.list")
async def list_deliveries(
    session: SessionDep,
    user: ContactKeeper,
    scope: ScopeDep,
    page: PageDep,
    incident: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    state: DeliveryState | None = None,
    handled: bool | None = None,
) -> ListOf[DeliveryOut]:
    """Outbound deliveries, newest first, each with its tries (time, status, error); of one incident, in one
    state, handled by a person or not, if asked. A notice nobody could be found for is here too: state ``dead``,
    channel ``none``. The command room's escalation list is ``state=dead&handled=false``."""
    within = None if scope.everything else scope.condition
    items, total = await service.list_deliveries(
        session,
        incident_id=incident,
        state=state,
        handled=handled,
        limit=page.limit,
        offset=page.offset,
        within=within,
    )
    return list_of(items, total)


@router.post("/deliveries/{delivery_id}/handled", name="deliveries.handled", response_model=DeliveryOut)
async def delivery_handled(
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, session: SessionDep, user: ContactKeeper
) -> DeliveryOut:
    """A delivery given up on (``dead``) was dealt with by hand: it leaves every command room's escalation list
    (``delivery.handled``). 409 unless it is dead; marking it again answers the first marking."""
    out = await service.mark_handled(session, delivery_id=delivery_id, actor=user.username)
    add_target(request, incident_id=out.incident_id, handled_by=out.handled_by)
    return out


@router.post("/push-subscriptions", name="push.subscribe", status_code=201)
async def subscribe(
    body: PushSubscriptionIn, request: Request, session: SessionDep, user: Subscriber
) -> PushSubscriptionOut:
    """Keep this browser's Web Push subscription for the signed-in user (a field user's phone is alerted when its
    unit is dispatched). Keys that are not a P-256 point and a 16-byte secret are 422."""
    out = await service.subscribe_push(session, username=user.username, body=body)
    add_target(request, subscription_id=out.id)
    return out


@router.delete("/push-subscriptions", name="push.unsubscribe", status_code=204, response_class=Response)
async def unsubscribe(
    request: Request,
    session: SessionDep,
    user: Subscriber,
    endpoint: Annotated[str, Query(min_length=1, max_length=2048)],
) -> Response:
    """Forget the signed-in user's subscription at ``endpoint``; 404 when there is none."""
    gone = await service.unsubscribe_push(session, username=user.username, endpoint=endpoint)
    add_target(request, subscription_id=gone)
    return Response(status_code=204)


@router.get("/push-subscriptions/key", name="push.key")
async def vapid_key(settings: SettingsDep, user: Subscriber) -> PushKeyOut:
    """The application server key a browser subscribes with (``applicationServerKey``)."""
    return PushKeyOut(public_key=settings.vapid_public_key)
