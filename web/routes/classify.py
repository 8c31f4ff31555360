"""``POST /api/v1/classify``: what a report is, its figures and its grade, without recording anything."""

from __future__ import annotations

from fastapi import APIRouter

from incidents import service as incidents
from incidents.schemas import ClassifyRequest, ClassifyResult
from web.audit import READ_ONLY
from web.deps import AnyUser

router = APIRouter(tags=["intake"])


@router.post("/classify", name="intake.classify", response_model=ClassifyResult, openapi_extra=READ_ONLY)
async def classify(body: ClassifyRequest, user: AnyUser) -> ClassifyResult:
    """Classify free text (Chinese, English or mixed), extract its facts and grade it by the published rules.

    Facts given in the request win over the ones read from the text; a ``category``/``subtype`` given is kept (an
    officer's correction) and the grade follows it. Pure: writes nothing, not even an audit row.
    """
    return incidents.classify_report(body.text, body.facts, category=body.category, subtype=body.subtype)
