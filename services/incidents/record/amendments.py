"""Corrections to a saved record (DESIGN rule 6): the incident row is never changed; each amendment
says which field, the new value, why, who and when. Readers see the record with the latest
amendment to each field applied (`schemas.current_values`); the DSL team also sees the original.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.contracts.base import field_errors, parse_moment
from services.common.contracts.incidents import IncidentIn
from services.common.db import utcnow
from services.common.events import add_to_outbox, make_event

from .. import schemas
from ..chronology import details
from ..chronology.entries import add_entry
from .incidents import chronology_title, incident_view, readable_incident
from ..exceptions import Forbidden, ValidationFailed
from ..fields import optional_text
from ..policy import can_amend_incident
from ..models import Amendment, ChronologyEntry, Incident, OutboxEvent

MIN_REASON_CHARS = 5

# The contract carries `new_value` as text of any field; which rule applies depends on `field`, so it
# is checked here, with the rule the record's own field has in the contract (IncidentIn): a correction
# accepts exactly what a new record would.
NEW_VALUE_RULES = {field: TypeAdapter(Annotated[IncidentIn.model_fields[field].annotation,
                                                IncidentIn.model_fields[field]])
                   for field in schemas.AMENDABLE_FIELDS}


def _stored(field: str, value: str | None) -> str:
    """A checked value as the amendment row keeps it: the wire form, "" for an emptied field."""
    if field == "occurred_at":
        return parse_moment(value).isoformat() + "Z"  # as schemas.incident writes occurred_at
    if field == "record_type":
        return value
    return optional_text(value) or ""


def amend_incident(session: Session, actor: Actor, incident_id: int, data: dict) -> dict:
    incident = readable_incident(session, actor, incident_id)
    if not can_amend_incident(actor, incident):
        raise Forbidden("Only the member of staff who recorded this, or the DSL team, can amend it.")

    errors: list[dict] = []
    field = data["field"]
    try:
        new_value = _stored(field, NEW_VALUE_RULES[field].validate_python(data.get("new_value")))
    except ValidationError as exc:
        errors += [{**e, "field": "new_value"} for e in field_errors(exc)]
    else:
        if schemas.amended_value(field, new_value) == schemas.current_values(incident)[field]:
            errors.append({"field": "new_value",
                           "message": "That is what the record already says. Change it, or cancel the correction."})
    reason = (data.get("reason") or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        errors.append({"field": "reason", "message": "Say why you are correcting the record "
                                                     f"(at least {MIN_REASON_CHARS} characters)."})
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
    if field == "account":
        details.refresh(session, incident)  # the DSL's lines show the corrected account
    add_to_outbox(session, OutboxEvent, make_event(
        "incident_amended", incident.school_id, incident_id=incident.id, pupil_id=incident.pupil_id,
        amendment_id=amendment.id, field=field, amended_by=actor.user_id,
        recorded_by=incident.recorded_by))  # the recorder hears of a correction someone else made
    session.flush()
    return {"amendment": schemas.amendment(amendment),
            "incident": incident_view(actor, incident)}


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
