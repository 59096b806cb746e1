"""A pupil's details (full for the DSL team and SLT) and family links between pupils."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor

from ..exceptions import NotFound, ValidationFailed
from ..models import FLAGS, Pupil, PupilLink
from ..policy import require_dsl_team, sees_details, sees_leavers
from .search import fold

# --- a pupil's details and family -------------------------------------------------------------




def _load_pupil(session: Session, actor: Actor, pupil_id, *, on_roll_only: bool = False) -> Pupil:
    pupil = session.get(Pupil, pupil_id)
    if pupil is None or pupil.school_id != actor.school_id or (on_roll_only and not pupil.on_roll):
        raise NotFound("No such pupil on this school's roll.")
    return pupil


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(pupil: Pupil) -> dict:
    return {"id": pupil.id, "name": pupil.name, "year_group": pupil.year_group, "form": pupil.form}




def get_pupil(session: Session, actor: Actor, pupil_id) -> dict:
    """Full details for the DSL team and SLT; other staff get what the incident form needs."""
    if not sees_details(actor):
        return _summary(_load_pupil(session, actor, pupil_id, on_roll_only=True))
    pupil = _load_pupil(session, actor, pupil_id)
    return {
        **_summary(pupil), "upn": pupil.upn, "legal_name": pupil.legal_name,
        "legal_forename": pupil.legal_forename, "legal_surname": pupil.legal_surname,
        "preferred_forename": pupil.preferred_forename, "preferred_surname": pupil.preferred_surname,
        "initials": pupil.initials, "date_of_birth": _iso(pupil.date_of_birth), "sex": pupil.sex,
        "on_roll": pupil.on_roll, "admission_date": _iso(pupil.admission_date),
        "leaving_date": _iso(pupil.leaving_date),
        "flags": {f: bool(getattr(pupil, f)) for f in FLAGS}, "sen_status": pupil.sen_status or "none",
        "siblings": list_siblings(session, actor, pupil.id),
    }


def list_siblings(session: Session, actor: Actor, pupil_id) -> list[dict]:
    """For "add siblings" on the incident form: any member of staff sees on-roll siblings; the DSL
    team also sees those who have left (with on_roll)."""
    pupil = _load_pupil(session, actor, pupil_id, on_roll_only=not sees_leavers(actor))
    query = (select(Pupil).join(PupilLink, PupilLink.related_pupil_id == Pupil.id)
             .where(PupilLink.pupil_id == pupil.id, PupilLink.relationship == "sibling",
                    Pupil.school_id == actor.school_id))
    if not sees_leavers(actor):
        query = query.where(Pupil.on_roll.is_(True))
    siblings = sorted(session.scalars(query), key=lambda p: (fold(p.name), p.id))
    return [{**_summary(p), "on_roll": p.on_roll} if sees_leavers(actor) else _summary(p) for p in siblings]


def _sibling_pair(session: Session, actor: Actor, pupil_id, other_id) -> tuple[Pupil, Pupil]:
    require_dsl_team(actor, "change family links")
    pupil = _load_pupil(session, actor, pupil_id)
    if other_id == pupil.id:
        raise ValidationFailed.one("pupil_id", "A pupil cannot be their own sibling; choose another pupil.")
    other = session.get(Pupil, other_id)
    if other is None or other.school_id != actor.school_id:
        raise ValidationFailed.one("pupil_id", "That pupil is not on this school's roll; choose the sibling "
                                               "from the list.")
    return pupil, other


def link_siblings(session: Session, actor: Actor, pupil_id, other_pupil_id) -> list[dict]:
    """Record that two pupils are siblings (both ways; linking twice changes nothing)."""
    pupil, other = _sibling_pair(session, actor, pupil_id, other_pupil_id)
    for a, b in ((pupil.id, other.id), (other.id, pupil.id)):
        link = session.get(PupilLink, (a, b))
        if link is None:
            session.add(PupilLink(pupil_id=a, related_pupil_id=b, relationship="sibling"))
        elif link.relationship != "sibling":
            link.relationship = "sibling"
    session.flush()
    return list_siblings(session, actor, pupil.id)


def unlink_siblings(session: Session, actor: Actor, pupil_id, other_pupil_id) -> list[dict]:
    pupil, other = _sibling_pair(session, actor, pupil_id, other_pupil_id)
    for a, b in ((pupil.id, other.id), (other.id, pupil.id)):
        link = session.get(PupilLink, (a, b))
        if link is not None:
            session.delete(link)
    session.flush()
    return list_siblings(session, actor, pupil.id)
