"""SQL of the reports, over the event log only (``event``): an incident's events, the units' positions while they
were dispatched, and the response-time percentiles of a period in one statement. No rules here: what the events
mean is ``command.reports``'s; the percentile statement states the same meanings in SQL (the test holds them equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event

# A report's map: at most this many positions in all (by unit, then in order: the last units' cut first), hours of
# a dozen units.
MAX_TRACK_POINTS = 20_000


async def incident_events(session: AsyncSession, *, incident_id: int) -> list[Event]:
    """Every event scoped to the incident, in commit order."""
    stmt = select(Event).where(Event.incident_id == incident_id).order_by(Event.id)
    return list((await session.scalars(stmt)).all())


async def track_events(session: AsyncSession, *, windows: Sequence[tuple[int, datetime, datetime]]) -> list[Event]:
    """The ``unit.location`` events of each ``(unit_id, since, until)`` window, by unit and in order (an index on
    exactly that: migration 0018)."""
    if not windows:
        return []
    within = or_(*(and_(Event.unit_id == u, Event.created_at >= s, Event.created_at <= e) for u, s, e in windows))
    stmt = select(Event).where(Event.type == "unit.location", within)
    stmt = stmt.order_by(Event.unit_id, Event.id).limit(MAX_TRACK_POINTS)
    return list((await session.scalars(stmt)).all())


# The percentiles. The period's incidents are those whose incident.created event was logged in [from, to) (an
# index on exactly that: migration 0018); their category and grade are as their newest incident.* event states
# them. A dispatch's steps are the first event of each kind: dispatched at dispatch.created's created_at,
# acknowledged at dispatch.acknowledged's acknowledged_at, on scene at the status_at (the phone's time) of the first
# dispatch.updated with status on_scene, or when that event was logged. The incident's own intervals (reported →
# first dispatched, reported → first on scene) are carried by one row per incident (the first), so an incident with
# many units counts once; percentile_cont skips the NULLs of the others.
RESPONSE_TIMES = text("""
WITH period AS (
    SELECT DISTINCT ON (e.incident_id) e.incident_id,
           COALESCE((e.data->>'reported_at')::timestamptz, e.created_at) AS reported_at
    FROM event e
    WHERE e.type = 'incident.created' AND e.created_at >= :from_at AND e.created_at < :to_at
      AND (NOT CAST(:scoped AS boolean)
           OR (e.data->'jurisdiction'->>'id')::bigint = ANY(CAST(:jurisdictions AS bigint[])))
    ORDER BY e.incident_id, e.id
),
marked AS (
    SELECT p.incident_id, p.reported_at, x.category, x.grade, d.dispatch_id, d.dispatched_at, d.acknowledged_at,
           d.on_scene_at
    FROM period p
    CROSS JOIN LATERAL (
        SELECT i.data->>'category' AS category, i.data->'grade'->>'level' AS grade
        FROM event i
        WHERE i.incident_id = p.incident_id AND i.type IN ('incident.created', 'incident.updated')
        ORDER BY i.id DESC LIMIT 1
    ) x
    LEFT JOIN LATERAL (
        SELECT (e.data->>'id')::bigint AS dispatch_id,
               min((e.data->>'created_at')::timestamptz) FILTER (WHERE e.type = 'dispatch.created') AS dispatched_at,
               min((e.data->>'acknowledged_at')::timestamptz)
                   FILTER (WHERE e.type = 'dispatch.acknowledged') AS acknowledged_at,
               min(COALESCE((e.data->>'status_at')::timestamptz, e.created_at))
                   FILTER (WHERE e.type = 'dispatch.updated' AND e.data->>'status' = 'on_scene') AS on_scene_at
        FROM event e
        WHERE e.incident_id = p.incident_id
          AND e.type IN ('dispatch.created', 'dispatch.acknowledged', 'dispatch.updated')
        GROUP BY 1
    ) d ON true
),
ranked AS (
    SELECT m.*,
           row_number() OVER w = 1 AS first_row,
           min(m.dispatched_at) OVER w AS first_dispatched_at,
           min(m.on_scene_at) OVER w AS first_on_scene_at
    FROM marked m
    WINDOW w AS (PARTITION BY m.incident_id ORDER BY m.dispatched_at NULLS LAST
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
measured AS (
    SELECT category, grade, incident_id, dispatch_id,
           CASE WHEN first_row THEN extract(epoch FROM first_dispatched_at - reported_at) END AS dispatch_s,
           extract(epoch FROM acknowledged_at - dispatched_at) AS acknowledge_s,
           extract(epoch FROM on_scene_at - dispatched_at) AS on_scene_s,
           CASE WHEN first_row THEN extract(epoch FROM first_on_scene_at - reported_at) END AS response_s
    FROM ranked
)
SELECT category, grade, GROUPING(category, grade) = 3 AS all_rows,
       count(DISTINCT incident_id) AS incidents, count(dispatch_id) AS dispatches,
       count(dispatch_s) AS dispatch_n,
       percentile_cont(ARRAY[0.5, 0.9, 0.95]) WITHIN GROUP (ORDER BY dispatch_s) AS dispatch_p,
       count(acknowledge_s) AS acknowledge_n,
       percentile_cont(ARRAY[0.5, 0.9, 0.95]) WITHIN GROUP (ORDER BY acknowledge_s) AS acknowledge_p,
       count(on_scene_s) AS on_scene_n,
       percentile_cont(ARRAY[0.5, 0.9, 0.95]) WITHIN GROUP (ORDER BY on_scene_s) AS on_scene_p,
       count(response_s) AS response_n,
       percentile_cont(ARRAY[0.5, 0.9, 0.95]) WITHIN GROUP (ORDER BY response_s) AS response_p
FROM measured
GROUP BY GROUPING SETS ((category, grade), ())
ORDER BY all_rows DESC, category NULLS LAST, grade NULLS LAST
""")


async def response_times(
    session: AsyncSession, *, from_at: datetime, to_at: datetime, jurisdictions: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    """One row per category and grade of the period's incidents (only those logged in ``jurisdictions`` when
    given), and one over all of them (``all_rows``)."""
    # The planner's cost estimate for a year passes jit_above_cost, and compiling the plan (some 75 ms, more on a
    # busy machine) buys nothing for a statement of a second at most: off for the rest of this (read-only) request.
    await session.execute(text("SET LOCAL jit = off"))
    scope = {"scoped": jurisdictions is not None, "jurisdictions": sorted(jurisdictions or ())}
    result = await session.execute(RESPONSE_TIMES, {"from_at": from_at, "to_at": to_at, **scope})
    return [dict(row) for row in result.mappings()]
