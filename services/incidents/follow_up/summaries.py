"""The DSL team's one-line summary of an incident: what its chronology lines show the DSL team instead
of the account's first words (chronology/details.py). It is the DSL's own note about the record, kept
beside it: the record and its account are untouched, so it is not an amendment (DESIGN rule 6).
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from ..chronology import details
from ..exceptions import Forbidden
from ..models import IncidentSummary
from ..policy import can_record_decision, require_dsl_team, require_step_up
from .actions import load_incident


def set_incident_summary(session: Session, actor: Actor, incident_id: int, summary: str = "") -> dict:
    """Write, replace or (with an empty summary) clear it. One line: line breaks become spaces."""
    require_dsl_team(actor, "write an incident's chronology summary")
    incident = load_incident(session, actor, incident_id)
    if not can_record_decision(actor, incident):
        raise Forbidden("Only the DSL team can write an incident's chronology summary.")
    require_step_up(actor, incident)  # writing it means reading the record
    text = details.one_line(summary or "")
    row = session.get(IncidentSummary, incident.id)
    if not text:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(IncidentSummary(incident_id=incident.id, summary=text, set_by=actor.user_id,
                                    set_by_name=actor.name, set_at=utcnow()))
    else:
        row.summary, row.set_by, row.set_by_name, row.set_at = text, actor.user_id, actor.name, utcnow()
    details.refresh(session, incident)  # its lines show the summary, or the account's words again
    return {"incident_id": incident.id, "summary": text or None}
