"""``Idempotency-Key`` on a crew's actions (acknowledge, status, note): the action runs once, a replay gets the first
answer back (``Idempotent-Replayed: true``). The rule and the store are ``core.replies``; this is the HTTP side."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core import replies
from web.deps import CurrentUser

KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="a key of the client's; the same key again returns the first answer without acting twice",
    ),
]


async def once(
    session: AsyncSession,
    request: Request,
    user: CurrentUser,
    key: str | None,
    body: Any,
    run: Callable[[], Awaitable[Any]],
    *,
    status: int = 200,
) -> Any:
    """Run the action, or give back the answer it gave the first time this caller sent ``key`` for this route and
    ``body``."""
    if key is None:
        return await run()
    route = f"{request.method} {request.url.path}"
    request_hash = replies.fingerprint(route, jsonable_encoder(body))
    earlier = await replies.claim(session, actor=user.username, key=key, request_hash=request_hash)
    if earlier is not None:
        return JSONResponse(earlier.body, status_code=earlier.status or status, headers={"Idempotent-Replayed": "true"})
    result = await run()
    await replies.remember(session, actor=user.username, key=key, status=status, body=jsonable_encoder(result))
    return result
