"""Who a single record is closed to, set by the DSL team: restricting it to the DSL team (e.g. an
allegation about a member of staff), and the staff it is about, from whom it is hidden whatever their
role (self-exclusion). A DSL the record names cannot see it to change it: another DSL does (404 for
them, as for any record that does not exist for them).
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from .. import schemas
from ..fields import Errors, optional_text
from ..models import IncidentExclusion
from ..policy import require_dsl_team
from .incidents import _load_incident

RESTRICT_REASON = "Say why this record is restricted to the DSL team (e.g. an allegation about a member of staff)."


def restrict_incident(session: Session, actor: Actor, incident_id: int, restricted: bool,
                      reason: str | None = None) -> dict:
    """Restrict the record to the DSL team (a reason is required), or lift the restriction. Not even its
    recorder reads a restricted record, its chronology lines or its counts."""
    require_dsl_team(actor, "restrict a record")
    incident = _load_incident(session, actor, incident_id)
    reason = optional_text(reason)
    if restricted and reason is None:
        error = Errors()
        error("reason", RESTRICT_REASON)
        error.raise_if_any()
    incident.restricted = restricted
    incident.restricted_reason = reason if restricted else None
    incident.restricted_by_name = actor.name if restricted else None
    incident.restricted_at = utcnow() if restricted else None
    session.flush()
    return {"incident_id": incident.id, "restricted": incident.restricted, "restriction": schemas.restriction(incident)}


def set_excluded_staff(session: Session, actor: Actor, incident_id: int, user_ids: list[int]) -> dict:
    """The staff the record is about (the whole list): it is hidden from each of them, whatever their
    role. A DSL may name themselves (stepping aside); after that the record does not exist for them."""
    require_dsl_team(actor, "say whom a record is about")
    incident = _load_incident(session, actor, incident_id)
    wanted = list(dict.fromkeys(user_ids))
    incident.exclusions = [e for e in incident.exclusions if e.user_id in wanted] + [
        IncidentExclusion(incident_id=incident.id, user_id=uid) for uid in wanted
        if uid not in incident.excluded_staff_ids]
    session.flush()
    return {"incident_id": incident.id, "excluded_staff_ids": incident.excluded_staff_ids}
