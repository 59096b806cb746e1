"""What the incidents service does with other services' events (idempotent on event_id)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from services.common.events import already_processed

from .chronology.entries import add_entry
from .models import Incident, ProcessedEvent, School

log = logging.getLogger(__name__)


class MalformedEvent(ValueError):
    """The event lacks what we need; the handler fails so it ends in the dead-letter queue, not dropped."""


def _when(value) -> datetime:
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def document_stored(session: Session, event: dict) -> bool:
    """documents.document_stored: a "document" chronology entry for the incident's pupil and each
    linked pupil (with their role). False when the event was already handled."""
    try:
        document_id, incident_id = str(event["document_id"]), int(event["incident_id"])
        school_id, occurred_at = int(event["school_id"]), _when(event["occurred_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"document_stored event {event.get('event_id')} lacks {exc}") from None
    incident = session.get(Incident, incident_id)
    if incident is None or incident.school_id != school_id:
        # Documents asked us before storing, so this should not happen: fail loudly (retries, then DLQ).
        raise MalformedEvent(f"document_stored event {event.get('event_id')}: no incident {incident_id} "
                             f"in school {school_id}")
    if already_processed(session, ProcessedEvent, event):
        return False
    category_ids = [c.id for c in incident.categories]
    sensitivities = [c.sensitivity for c in incident.categories]
    for pupil_id, role in [(incident.pupil_id, None), *((lp.pupil_id, lp.role) for lp in incident.linked_pupils)]:
        add_entry(session, school_id=school_id, pupil_id=pupil_id, entry_type="document", ref_id=document_id,
                  occurred_at=occurred_at, title="Document attached", incident_id=incident.id,
                  category_ids=category_ids, sensitivities=sensitivities, role=role)
    log.info("document %s added to the chronology of incident %s", document_id, incident.id)
    return True


def school_saved(session: Session, event: dict) -> bool:
    """gateway.school_saved: keep our own row of the school (same id) so its roll, categories and records
    can exist here. Creating or renaming; False when the event was already handled."""
    try:
        school_id, name = int(event["school_id"]), str(event["name"]).strip()
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"school_saved event {event.get('event_id')} lacks {exc}") from None
    if not name or len(name) > 200:
        raise MalformedEvent(f"school_saved event {event.get('event_id')}: no usable name")
    if already_processed(session, ProcessedEvent, event):
        return False
    school = session.get(School, school_id)
    if school is None:
        session.add(School(id=school_id, name=name, roll_version=""))
    else:
        school.name = name
    session.flush()
    log.info("school %s saved", school_id)
    return True
