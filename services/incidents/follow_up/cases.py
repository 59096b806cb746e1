"""Cases: the DSL team groups a pupil's incidents, gives the case an owner on the DSL team and a
status (open, closed, no further action). Every change is kept in the case's history (who, when,
what, and why for a status change) and goes in the pupil's chronology.

Case lines in the chronology carry the "safeguarding" sensitivity whatever the incidents' categories:
cases are the DSL team's, so only they see them.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.contracts.incidents import CASE_STATUS_LABELS
from services.common.db import utcnow
from services.common.errors import Conflict, StepUpRequired

from .. import schemas
from ..chronology.entries import add_entry
from ..exceptions import NotFound, ValidationFailed
from ..models import Case, CaseEvent, CaseIncident, Incident, Pupil, StaffRelative
from ..fields import Errors, iso, optional_text, required_text
from ..policy import excluded_from, excluded_pupil_ids, needs_step_up, require_dsl_team

CASE_SENSITIVITY = "safeguarding"
STATUS_LABELS = CASE_STATUS_LABELS


def _load_case(session: Session, actor: Actor, case_id) -> Case:
    require_dsl_team(actor, "manage cases")
    case = session.get(Case, case_id)
    if case is None or case.school_id != actor.school_id or _pupil_hidden(session, actor, case.pupil_id):
        raise NotFound("No such case.")
    return case


def _pupil_hidden(session: Session, actor: Actor, pupil_id: int) -> bool:
    """The actor is this pupil's parent or carer: the pupil's cases do not exist for them."""
    return session.scalar(excluded_pupil_ids(actor).where(StaffRelative.pupil_id == pupil_id).limit(1)) is not None


def _owner(data: dict, error: Errors) -> tuple[int | None, str | None]:
    """The gateway checks the owner is on the DSL team and supplies their name."""
    owner_name = optional_text(data.get("owner_name"))
    if owner_name is None:
        error("owner_user_id", "Choose the case owner from the DSL team.")
        return None, None
    return data["owner_user_id"], owner_name


def _about_pupil(incident: Incident, pupil_id: int) -> bool:
    return incident.pupil_id == pupil_id or any(lp.pupil_id == pupil_id for lp in incident.linked_pupils)


def _incidents(session: Session, actor: Actor, ids: list[int], pupil_id: int | None, error: Errors,
               field: str = "incident_ids") -> list[Incident]:
    """The incidents named, each of this school and about the pupil (as its subject or a linked pupil)."""
    found = {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(ids)))} if ids else {}
    chosen, seen = [], set()
    for n, incident_id in enumerate(ids):
        incident = found.get(incident_id)
        if incident is None or incident.school_id != actor.school_id or excluded_from(actor, incident):
            error(f"{field}.{n}", "That incident does not exist. Choose incidents from the pupil's chronology.")
        elif incident_id in seen:
            error(f"{field}.{n}", f"Incident {incident_id} is listed twice.")
        elif pupil_id is not None and not _about_pupil(incident, pupil_id):
            error(f"{field}.{n}", f"Incident {incident_id} is not about this pupil. Choose incidents recorded "
                                  "about them or in which they are a linked pupil.")
        else:
            chosen.append(incident)
        seen.add(incident_id)
    return chosen


def _history(session: Session, case: Case, actor: Actor, what: str, reason: str | None = None):
    session.add(CaseEvent(case_id=case.id, what=what[:200], reason=reason, by_id=actor.user_id, by_name=actor.name,
                          at=utcnow()))


def _chronicle(session: Session, case: Case, title: str, incident: Incident | None = None) -> None:
    incidents = [incident] if incident else list(case.incidents)
    categories = {c.id: c for i in incidents for c in i.categories}
    add_entry(session, school_id=case.school_id, pupil_id=case.pupil_id, entry_type="case",
                         ref_id=case.id, incident_id=incident.id if incident else None, occurred_at=utcnow(),
                         title=title, category_ids=sorted(categories),
                         sensitivities=[CASE_SENSITIVITY, *(c.sensitivity for c in categories.values())])


def _incident_summary(i: Incident) -> dict:
    current = schemas.current_values(i)
    return {"id": i.id, "pupil_id": i.pupil_id, "occurred_at": current["occurred_at"],
            "record_type": current["record_type"], "record_type_label": current["record_type_label"],
            "categories": [{"id": c.id, "name": c.name, "sensitivity": c.sensitivity} for c in i.categories],
            "urgent": i.urgent, "recorded_by": {"id": i.recorded_by, "name": i.recorded_by_name}}


def _case_summary(case: Case, pupil: Pupil, incident_count: int) -> dict:
    return {"id": case.id, "title": case.title, "status": case.status,
            "status_label": STATUS_LABELS.get(case.status, case.status),
            "pupil": schemas.pupil_summary(pupil),
            "owner": {"id": case.owner_id, "name": case.owner_name}, "opened_at": iso(case.opened_at),
            "closed_at": iso(case.closed_at), "incident_count": incident_count}


def case_dict(session: Session, case: Case, actor: Actor) -> dict:
    """The case as this member of the DSL team sees it: without any incident that names them."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at,
                                                                                           CaseEvent.id))
    incidents = sorted((i for i in case.incidents if not excluded_from(actor, i)),
                       key=lambda i: (schemas.current_values(i)["occurred_at"], i.id))
    return {**_case_summary(case, session.get(Pupil, case.pupil_id), len(incidents)),
            "incidents": [_incident_summary(i) for i in incidents],
            "history": [{"id": e.id, "what": e.what, "reason": e.reason, "by": {"id": e.by_id, "name": e.by_name},
                         "at": iso(e.at)} for e in events]}


# --- commands ------------------------------------------------------------------------------------------

def open_case(session: Session, actor: Actor, case) -> dict:
    """`data`: pupil_id, title, owner_user_id and owner_name (from the gateway), incident_ids."""
    data = case  # the command's fields (`case` below may be the saved row)
    require_dsl_team(actor, "manage cases")
    error = Errors()
    pupil = session.get(Pupil, data["pupil_id"])
    if pupil is None or pupil.school_id != actor.school_id:
        error("pupil_id", "Choose the pupil the case is about from the roll.")
        pupil = None
    title = required_text(data.get("title"), "title", error,
                          "Give the case a short title, e.g. 'Neglect concerns, autumn term'.")
    owner_id, owner_name = _owner(data, error)
    incidents = _incidents(session, actor, data.get("incident_ids") or [], pupil.id if pupil else None, error)
    error.raise_if_any()

    now = utcnow()
    case = Case(school_id=actor.school_id, pupil_id=pupil.id, title=title, owner_id=owner_id,
                owner_name=owner_name, status="open", opened_at=now)
    session.add(case)
    session.flush()
    for incident in incidents:
        session.add(CaseIncident(case_id=case.id, incident_id=incident.id))
    _history(session, case, actor, f"Case opened, owner {owner_name}"
             + (f", with incidents {', '.join(str(i.id) for i in incidents)}" if incidents else ""))
    session.flush()
    session.expire(case, ["incidents"])
    _chronicle(session, case, f"Case opened: {title}")
    session.flush()
    return case_dict(session, case, actor)


def add_incident(session: Session, actor: Actor, case_id, incident_id) -> dict:
    case = _load_case(session, actor, case_id)
    error = Errors()
    chosen = _incidents(session, actor, [incident_id], case.pupil_id, error)
    if error.items:
        raise ValidationFailed([{"field": "incident_id", "message": e["message"]} for e in error.items])
    incident = chosen[0]
    if session.get(CaseIncident, (case.id, incident.id)) is not None:
        raise Conflict(f"Incident {incident.id} is already in this case.")
    session.add(CaseIncident(case_id=case.id, incident_id=incident.id))
    _history(session, case, actor, f"Incident {incident.id} added")
    session.flush()
    session.expire(case, ["incidents"])
    _chronicle(session, case, f"Incident added to case: {case.title}", incident)
    session.flush()
    return case_dict(session, case, actor)


def change_owner(session: Session, actor: Actor, case_id, owner) -> dict:
    data = owner  # the command's fields (`owner` below may be the saved row)
    case = _load_case(session, actor, case_id)
    error = Errors()
    owner_id, owner_name = _owner(data, error)
    if owner_id is not None and owner_id == case.owner_id:
        error("owner_user_id", f"{case.owner_name} already owns this case. Choose someone else, or cancel.")
    error.raise_if_any()
    before = case.owner_name
    case.owner_id, case.owner_name = owner_id, owner_name
    _history(session, case, actor, f"Owner changed from {before} to {owner_name}")
    _chronicle(session, case, f"Case owner changed to {owner_name}: {case.title}")
    session.flush()
    return case_dict(session, case, actor)


def set_status(session: Session, actor: Actor, case_id, change) -> dict:
    """`data`: status (open, closed, no_further_action) and the reason for the change."""
    data = change  # the command's fields (`change` below may be the saved row)
    case = _load_case(session, actor, case_id)
    error = Errors()
    status = data.get("status")
    if status is None:  # the contract knows the word list; choosing one is checked here
        error("status", "Choose the case's status: open, closed or no further action.")
    elif status == case.status:
        error("status", f"The case is already {STATUS_LABELS[status].lower()}.")
    reason = required_text(data.get("reason"), "reason", error, "Say why the case's status is changing.")
    error.raise_if_any()
    before = case.status
    case.status = status
    case.closed_at = None if status == "open" else utcnow()
    _history(session, case, actor, f"Status changed from {STATUS_LABELS[before].lower()} to "
                                   f"{STATUS_LABELS[status].lower()}", reason)
    title = {"open": "Case reopened", "closed": "Case closed",
             "no_further_action": "Case closed with no further action"}[status]
    _chronicle(session, case, f"{title}: {case.title}")
    session.flush()
    return case_dict(session, case, actor)


# --- reading ---------------------------------------------------------------------------------------------

def get_case(session: Session, actor: Actor, case_id) -> dict:
    """Cases are safeguarding work: reading one needs a recent second factor."""
    case = _load_case(session, actor, case_id)
    if needs_step_up([CASE_SENSITIVITY]) and not actor.stepped_up():
        raise StepUpRequired()
    return case_dict(session, case, actor)


def list_cases(session: Session, actor: Actor, status: str | None = None, pupil_id=None) -> list[dict]:
    require_dsl_team(actor, "manage cases")
    counts = (select(CaseIncident.case_id, func.count().label("n")).group_by(CaseIncident.case_id).subquery())
    query = (select(Case, Pupil, func.coalesce(counts.c.n, 0)).join(Pupil, Pupil.id == Case.pupil_id)
             .outerjoin(counts, counts.c.case_id == Case.id).where(Case.school_id == actor.school_id,
                                                                   Case.pupil_id.not_in(excluded_pupil_ids(actor))))
    if status is not None:
        query = query.where(Case.status == status)
    if pupil_id is not None:
        query = query.where(Case.pupil_id == pupil_id)
    rows = session.execute(query.order_by(Case.opened_at.desc(), Case.id.desc()))
    return [_case_summary(case, pupil, n) for case, pupil, n in rows]


def pupil_cases_query(pupil_id: int):
    """Open cases about a pupil (the front sheet)."""
    return select(Case).where(Case.pupil_id == pupil_id, Case.status == "open").order_by(Case.opened_at)

