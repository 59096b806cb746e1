"""A pupil's details (flags for the DSL team only; date of birth and UPN for readers of records), family
links between pupils, and the staff who are a pupil's parent or carer (self-exclusion)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor

from ..exceptions import Forbidden, NotFound, ValidationFailed
from ..models import FLAGS, Pupil, PupilLink, StaffRelative
from ..policy import (excluded_from_pupil, excluded_pupil_ids, may_look_up_pupils, require_dsl_team, sees_details,
                      sees_leavers, sees_safeguarding_details)
from ..schemas import pupil_summary
from .search import fold

# --- a pupil's details and family -------------------------------------------------------------




def _load_pupil(session: Session, actor: Actor, pupil_id, *, on_roll_only: bool = False) -> Pupil:
    """The pupil, or 404: another school's, a leaver where only the roll is asked for, and one whose
    parent or carer the actor is (self-exclusion) — the same answer as for an id never used."""
    pupil = session.get(Pupil, pupil_id)
    if (pupil is None or pupil.school_id != actor.school_id or (on_roll_only and not pupil.on_roll)
            or excluded_from_pupil(actor, pupil)):
        raise NotFound("No such pupil on this school's roll.")
    return pupil


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None




def require_looks_up_pupils(actor: Actor) -> None:
    if not may_look_up_pupils(actor):
        raise Forbidden("Your role does not look up pupils.")


def get_pupil(session: Session, actor: Actor, pupil_id) -> dict:
    """Readers of records (DSL team, SLT, category readers) get the pupil's details; the DSL team alone
    also the safeguarding flags (CP plan, child in need, looked after, SEN) and the staff who are the
    pupil's parents or carers. Other staff get what the incident form needs."""
    require_looks_up_pupils(actor)
    if not sees_details(actor):
        return pupil_summary(_load_pupil(session, actor, pupil_id, on_roll_only=True))
    pupil = _load_pupil(session, actor, pupil_id)
    details = {
        **pupil_summary(pupil), "upn": pupil.upn, "legal_name": pupil.legal_name,
        "legal_forename": pupil.legal_forename, "legal_surname": pupil.legal_surname,
        "preferred_forename": pupil.preferred_forename, "preferred_surname": pupil.preferred_surname,
        "initials": pupil.initials, "date_of_birth": _iso(pupil.date_of_birth), "sex": pupil.sex,
        "on_roll": pupil.on_roll, "admission_date": _iso(pupil.admission_date),
        "leaving_date": _iso(pupil.leaving_date),
        "siblings": list_siblings(session, actor, pupil.id),
    }
    if sees_safeguarding_details(actor):
        details.update(flags={f: bool(getattr(pupil, f)) for f in FLAGS}, sen_status=pupil.sen_status or "none",
                       staff_relative_ids=pupil.staff_relative_ids)
    return details


def set_staff_relatives(session: Session, actor: Actor, pupil_id, user_ids: list[int]) -> dict:
    """The staff who are this pupil's parent or carer (the whole list; the DSL team sets it): the pupil's
    file and every record about them are hidden from those people, whatever their role."""
    require_dsl_team(actor, "say which staff are a pupil's parents or carers")
    pupil = _load_pupil(session, actor, pupil_id)
    wanted = list(dict.fromkeys(user_ids))
    pupil.staff_relatives = [r for r in pupil.staff_relatives if r.user_id in wanted] + [
        StaffRelative(pupil_id=pupil.id, user_id=uid) for uid in wanted if uid not in pupil.staff_relative_ids]
    session.flush()
    return {"pupil_id": pupil.id, "staff_relative_ids": pupil.staff_relative_ids}


def list_siblings(session: Session, actor: Actor, pupil_id) -> list[dict]:
    """For "add siblings" on the incident form: any member of staff sees on-roll siblings; the DSL
    team also sees those who have left (with on_roll)."""
    require_looks_up_pupils(actor)
    pupil = _load_pupil(session, actor, pupil_id, on_roll_only=not sees_leavers(actor))
    query = (select(Pupil).join(PupilLink, PupilLink.related_pupil_id == Pupil.id)
             .where(PupilLink.pupil_id == pupil.id, PupilLink.relationship == "sibling",
                    Pupil.school_id == actor.school_id, Pupil.id.not_in(excluded_pupil_ids(actor))))
    if not sees_leavers(actor):
        query = query.where(Pupil.on_roll.is_(True))
    siblings = sorted(session.scalars(query), key=lambda p: (fold(p.name), p.id))
    return [{**pupil_summary(p), "on_roll": p.on_roll} if sees_leavers(actor) else pupil_summary(p) for p in siblings]


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
