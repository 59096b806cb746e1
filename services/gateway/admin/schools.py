"""Schools on this Haven: made by the bootstrap command (and by a trust administrator). The incidents
service keeps its own row of the same id, from the `school_saved` event."""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.contracts.base import name_problem
from services.common.errors import Conflict, ValidationFailed
from services.common.events import add_to_outbox, make_event

from .. import accounts
from ..models import OutboxEvent, School, StaffMember

URN = re.compile(r"[0-9]{6,7}")  # the DfE's Unique Reference Number


def school_problems(name, urn, local_authority) -> list[dict]:
    """Field errors for a new school (all of them at once)."""
    errors = []
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200 or not accounts.storable(name):
        errors.append({"field": "name", "message": "Give the school's name (at most 200 characters)."})
    elif name_problem(name):  # the school's name reaches e-mails (set-password links)
        errors.append({"field": "name", "message": name_problem(name)})
    if not isinstance(urn, str) or not URN.fullmatch(urn.strip()):
        errors.append({"field": "urn", "message": "Give the school's URN: its 6 or 7 digit Unique Reference Number."})
    if (not isinstance(local_authority, str) or not local_authority.strip() or len(local_authority.strip()) > 120
            or not accounts.storable(local_authority)):
        errors.append({"field": "local_authority",
                       "message": "Give the school's local authority (at most 120 characters)."})
    return errors


def create_school(session: Session, *, name: str, urn: str, local_authority: str, trust: str | None = None) -> School:
    """A new school; `school_saved` goes out through the outbox in the same transaction."""
    errors = school_problems(name, urn, local_authority)
    if errors:
        raise ValidationFailed(errors)
    urn = urn.strip()
    if session.scalar(select(School.id).where(School.urn == urn)) is not None:
        raise Conflict(f"A school with URN {urn} is already on this Haven. Nothing was created.")
    school = School(id=next_school_id(session), name=name.strip(), urn=urn, local_authority=local_authority.strip(),
                    trust=trust.strip() if trust and trust.strip() else None)
    session.add(school)
    session.flush()
    add_to_outbox(session, OutboxEvent, make_event("school_saved", school.id, name=school.name))
    return school


def next_school_id(session: Session) -> int:
    """One past every school id the gateway knows, its staff's included: the demo school (and a school
    whose staff came before its row) has staff but no row, and a new school must never take its id, which
    the incidents service already uses."""
    return 1 + max(session.scalar(select(func.max(School.id))) or 0,
                   session.scalar(select(func.max(StaffMember.school_id))) or 0)


def school_name(session: Session, school_id: int) -> str:
    """The school's name for an e-mail (the demo school has no row: it is called by what it is)."""
    school = session.get(School, school_id)
    return school.name if school else "your school"


def trust_of(session: Session, school_id: int) -> str:
    """The trust a school belongs to; a school with none yet is the start of a trust named after it."""
    school = session.get(School, school_id)
    if school is None:
        return "Trust of school " + str(school_id)
    if not school.trust:
        school.trust = school.name
    return school.trust


def schools_of_trust(session: Session, school_id: int) -> list[dict]:
    school = session.get(School, school_id)
    if school is None or not school.trust:
        return [] if school is None else [_public(school)]
    return [_public(s) for s in session.scalars(select(School).where(School.trust == school.trust).order_by(School.id))]


def _public(school: School) -> dict:
    return {"id": school.id, "name": school.name, "urn": school.urn, "local_authority": school.local_authority,
            "trust": school.trust}
