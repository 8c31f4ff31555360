"""Which incidents a reader may see, as a SQL condition that every read of incident data applies (lists, single
reads, map tiles, the dry run's stored incidents).

This module only carries the answer; the rule that decides it lives above, in ``command.visibility``, because it
depends on dispatches (a field unit sees the incidents its unit was sent to).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import QueryableAttribute

from incidents.models import Incident


@dataclass(frozen=True)
class IncidentScope:
    """Every incident (``visible_ids`` None), none (``nothing``), or those whose id ``visible_ids`` selects."""

    visible_ids: Select[int] | None = None
    nothing: bool = False

    @property
    def everything(self) -> bool:
        return self.visible_ids is None and not self.nothing

    def condition(self, incident_id: ColumnElement[int] | QueryableAttribute[int]) -> ColumnElement[bool]:
        """A WHERE clause on an incident id column: true for the incidents in scope."""
        if self.nothing:
            return false()
        if self.visible_ids is None:
            return true()
        return incident_id.in_(self.visible_ids)


EVERY_INCIDENT = IncidentScope()
NO_INCIDENT = IncidentScope(nothing=True)


def in_jurisdictions(jurisdiction_ids: Select[int]) -> IncidentScope:
    """The incidents stored with one of the jurisdictions ``jurisdiction_ids`` selects (an incident outside every
    jurisdiction, with none stored, is in no one's)."""
    return IncidentScope(visible_ids=select(Incident.id).where(Incident.jurisdiction_id.in_(jurisdiction_ids)))
