"""Reading plan files and storing plan versions: validation first (a bad plan is refused whole), then the version
rules (a new version becomes current; the same id and version again must have the same content)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from geoalchemy2.shape import from_shape
from pydantic import ValidationError
from shapely.geometry import MultiPolygon, shape
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, Invalid
from plans import repository as repo
from plans.models import Plan
from plans.schemas import CheckIn, PlanDocument
from plans.yamlio import MAX_DOCUMENT_BYTES, Problem, parse_json, parse_yaml, problems_of, refuse, validate

LIBRARY = Path(__file__).resolve().parent / "library"
PLAN_SUFFIXES = (".yaml", ".yml", ".json")

Media = Literal["yaml", "json"]
Outcome = Literal["created", "unchanged"]


def parse_plan(raw: bytes | str, *, media: Media, max_bytes: int = MAX_DOCUMENT_BYTES) -> PlanDocument:
    """A validated plan from YAML or JSON text; Invalid naming each bad field (and its YAML line)."""
    parsed = parse_yaml(raw, max_bytes=max_bytes) if media == "yaml" else parse_json(raw, max_bytes=max_bytes)
    return validate(PlanDocument, parsed)


def media_of(path: Path) -> Media:
    return "json" if path.suffix.lower() == ".json" else "yaml"


def read_plan_file(path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> PlanDocument:
    """A plan file, validated; the error names the file."""
    if path.stat().st_size > max_bytes:
        raise Invalid(f"{path.name}: the file is larger than {max_bytes:,} bytes", field="file")
    try:
        return parse_plan(path.read_bytes(), media=media_of(path), max_bytes=max_bytes)
    except Invalid as exc:
        raise Invalid(f"{path.name}: {exc.detail}", field=exc.field, file=str(path), **exc.extra) from None


def plan_files(path: Path) -> list[Path]:
    """The plan files of a directory (sorted), or the one file given."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise Invalid(f"no such file or directory: {path}", field="path")
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PLAN_SUFFIXES)


def read_plans(path: Path) -> list[tuple[Path, PlanDocument]]:
    """Every plan under ``path``, validated; the batch is refused whole when any file is bad or two files carry the
    same id and version."""
    documents = [(p, read_plan_file(p)) for p in plan_files(path)]
    seen: dict[tuple[str, str], Path] = {}
    problems: list[Problem] = []
    for file, document in documents:
        key = (document.id, document.version)
        if key in seen:
            problems.append(
                Problem(field="id", message=f"{file.name} repeats id {key[0]!r} version {key[1]} of {seen[key].name}")
            )
        seen.setdefault(key, file)
    if problems:
        raise refuse(problems, what="the plan set")
    return documents


def parse_check(raw: bytes | str, *, media: Media, max_examples: int, cap_source: str = "") -> CheckIn:
    """The body of a dry run, YAML or JSON (empty: replay the stored incidents). More than ``max_examples`` example
    incidents is Invalid (with ``max_items``) before any of them is validated, so a huge list costs little;
    ``cap_source`` says in that message where the cap comes from. Otherwise Invalid names each bad field (and its
    YAML line)."""
    if not raw.strip():
        return CheckIn()
    parsed = parse_yaml(raw) if media == "yaml" else parse_json(raw)
    given = parsed.data.get("incidents") if isinstance(parsed.data, dict) else None
    if isinstance(given, list) and len(given) > max_examples:
        raise Invalid(
            f"at most {max_examples} example incidents per check{cap_source}; got {len(given)}",
            field="incidents",
            max_items=max_examples,
        )
    try:
        return CheckIn.model_validate(parsed.data if parsed.data is not None else {})
    except ValidationError as exc:
        raise refuse(problems_of(exc, parsed.node), what="the example set") from None


def read_check_file(path: Path) -> CheckIn:
    """A YAML file of example incidents for the dry run (``commandpost plans check --file``); the error names it."""
    return validate(CheckIn, parse_yaml(path.read_bytes()), what=path.name)


def canonical(document: PlanDocument) -> dict[str, object]:
    return document.model_dump(mode="json", exclude_none=True)


def digest_of(document: PlanDocument) -> str:
    text = json.dumps(canonical(document), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class LoadResult:
    plan: Plan
    outcome: Outcome
    superseded: list[str] = field(default_factory=list)


def _row(document: PlanDocument, *, digest: str, source: str | None, actor: str | None, current: bool) -> Plan:
    triggers = document.triggers
    area = None
    if triggers.area is not None and triggers.area.polygon is not None:
        geometry = shape(triggers.area.polygon.model_dump())
        area = from_shape(geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry]), srid=4326)
    return Plan(
        plan_id=document.id,
        version=document.version,
        version_number=document.version_number,
        name=document.name.zh,
        name_en=document.name.en,
        kind=document.kind.value,
        agency=document.agency.zh,
        effective_from=document.effective_from,
        min_level=triggers.min_level,
        categories=list(triggers.categories),
        subtypes=list(triggers.subtypes),
        jurisdictions=list(triggers.area.jurisdictions) if triggers.area else [],
        area=area,
        time_window=triggers.time_window.model_dump() if triggers.time_window else None,
        document=canonical(document),
        digest=digest,
        source=source[:300] if source else None,
        loaded_by=actor,
        current=current,
    )


async def load_plan(
    session: AsyncSession, *, document: PlanDocument, source: str | None, actor: str | None = None
) -> LoadResult:
    """Store a plan version. The same id and version with the same content is a no-op ("unchanged"); with other
    content it is a Conflict (bump the version). A version newer than every stored one becomes current and the
    older ones are marked superseded; activations keep pointing at the version they activated."""
    await repo.lock_plan_id(session, document.id)
    digest = digest_of(document)
    existing = await repo.get_version(session, plan_id=document.id, version=document.version)
    if existing is not None:
        if existing.digest != digest:
            raise Conflict(
                f"plan {document.id!r} version {document.version} is already stored with different content; "
                "give the changed plan a new version",
                plan_id=document.id,
                version=document.version,
            )
        return LoadResult(plan=existing, outcome="unchanged")
    newest = await repo.newest_version_number(session, plan_id=document.id)
    is_newest = newest is None or document.version_number > newest
    superseded = await repo.supersede(session, plan_id=document.id, at=utcnow()) if is_newest else []
    plan = _row(document, digest=digest, source=source, actor=actor, current=is_newest)
    if not is_newest:
        plan.superseded_at = utcnow()  # an older edition filed late: kept for the record, never matched first
    await repo.add_all(session, [plan])
    return LoadResult(plan=plan, outcome="created", superseded=superseded)


async def load_path(session: AsyncSession, *, path: Path = LIBRARY, actor: str | None = None) -> list[LoadResult]:
    """Load every plan under ``path`` (default: the shipped library), idempotently, all or nothing."""
    results = []
    for file, document in read_plans(path):
        results.append(await load_plan(session, document=document, source=f"file:{file.name}", actor=actor))
    return results
