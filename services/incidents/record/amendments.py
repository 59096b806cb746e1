"""Corrections to a saved record (DESIGN rule 6): the incident row is never changed; each amendment
says which field, the new value, why, who and when. Readers see the record with the latest
amendment to each field applied (`schemas.current_values`); the DSL team also sees the original.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow
from services.common.events import add_to_outbox, make_event

from .. import schemas
from ..chronology.entries import add_entry
from .incidents import FIELD_CLEANERS, Invalid, chronology_title, readable_incident
from ..exceptions import Forbidden, ValidationFailed
from ..policy import can_amend_incident, may, sees_original
from ..models import Amendment, ChronologyEntry, Incident, OutboxEvent

MIN_REASON_CHARS = 5
MAX_REASON_CHARS = 2_000




def _stored(field: str, value) -> str:
    """A cleaned value as the amendment row keeps it: the wire form, "" for an emptied field."""
    if field == "occurred_at":
        return value.isoformat() + "Z"  # as schemas.incident writes occurred_at
    return value or ""


def amend_incident(session: Session, actor: Actor, incident_id, data) -> dict:
    incident = readable_incident(session, actor, incident_id)
    if not can_amend_incident(actor, incident):
        raise Forbidden("Only the member of staff who recorded this, or the DSL team, can amend it.")

    data = data if isinstance(data, dict) else {}
    errors: list[dict] = []
    field = data.get("field")
    if field not in schemas.AMENDABLE_FIELDS:
        errors.append({"field": "field", "message": "Choose what to correct: "
                       + ", ".join(label.lower() for label in schemas.AMENDABLE_FIELDS.values()) + "."})
    else:
        try:
            new_value = _stored(field, FIELD_CLEANERS[field](data.get("new_value")))
        except Invalid as exc:
            errors.append({"field": "new_value", "message": exc.message})
        else:
            if schemas.amended_value(field, new_value) == schemas.current_values(incident)[field]:
                errors.append({"field": "new_value",
                               "message": "That is what the record already says. Change it, or cancel the correction."})
    reason = data.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if len(reason) < MIN_REASON_CHARS:
        errors.append({"field": "reason", "message": "Say why you are correcting the record "
                                                     f"(at least {MIN_REASON_CHARS} characters)."})
    elif len(reason) > MAX_REASON_CHARS:
        errors.append({"field": "reason", "message": f"The reason is longer than {MAX_REASON_CHARS:,} characters."})
    if errors:
        raise ValidationFailed(errors)

    amendment = Amendment(incident_id=incident.id, field=field, new_value=new_value, reason=reason,
                          author_id=actor.user_id, author_name=actor.name, created_at=utcnow())
    incident.amendments.append(amendment)
    session.flush()

    categories = incident.categories
    # In every chronology the incident appears in: the pupil's and each linked pupil's.
    for pupil_id, role in [(incident.pupil_id, None), *((lp.pupil_id, lp.role) for lp in incident.linked_pupils)]:
        add_entry(session, school_id=incident.school_id, pupil_id=pupil_id,
                             entry_type="amendment", ref_id=amendment.id, incident_id=incident.id,
                             occurred_at=amendment.created_at,
                             title=f"Record amended — {schemas.AMENDABLE_FIELDS[field]}",
                             category_ids=[c.id for c in categories],
                             sensitivities=[c.sensitivity for c in categories], role=role)
    if field in ("occurred_at", "record_type"):
        _refile_in_chronology(session, incident)
    add_to_outbox(session, OutboxEvent, make_event(
        "incident_amended", incident.school_id, incident_id=incident.id, pupil_id=incident.pupil_id,
        amendment_id=amendment.id, field=field, amended_by=actor.user_id))
    session.flush()
    return {"amendment": schemas.amendment(amendment),
            "incident": schemas.incident(incident, show_original=sees_original(actor), may=may(actor, incident))}


def _refile_in_chronology(session: Session, incident: Incident) -> None:
    """The chronology is an index of the records, in the order things happened: when a correction
    moves the time, or changes what was recorded, its lines follow (the record itself is unchanged)."""
    current = schemas.current_values(incident)
    entries = session.scalars(select(ChronologyEntry).where(ChronologyEntry.incident_id == incident.id,
                                                            ChronologyEntry.entry_type == "incident"))
    for entry in entries:
        entry.occurred_at = datetime.fromisoformat(current["occurred_at"].removesuffix("Z"))
        entry.title = chronology_title(current["record_type"], incident.categories)[:300]


def amend(session: Session, actor: Actor, incident_id: int, amendment: dict) -> dict:
    """incidents.amend_incident: the correction arrives as `amendment`."""
    return amend_incident(session, actor, incident_id, amendment)
