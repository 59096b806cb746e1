"""What the school does about an incident: actions (done or to do, assigned, completed), decisions
with their reasons (a decision not to refer must give its rationale) and outcomes.

Each is append-only (an action may only be completed) and goes in the chronology of the incident's
pupil and of each linked pupil (with their role), in the same transaction.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow
from services.common.errors import Conflict
from services.common.events import add_to_outbox, make_event

from ..chronology.entries import add_entry
from ..exceptions import Forbidden, NotFound
from ..fields import Errors, day, is_id, iso, text, when
from services.common.contracts.incidents import DECISION_TYPE_LABELS, OUTCOME_TYPE_LABELS

from ..models import DECISION_TYPES, OUTCOME_TYPES, Action, Decision, Incident, OutboxEvent, Outcome
from ..policy import (can_add_action, can_complete_action, can_read_incident, can_read_sensitivities,
                      was_alerted)  # noqa: F401

MAX_DESCRIPTION_CHARS = 5_000
MAX_REASON_CHARS = 10_000
MAX_NOTE_CHARS = 10_000
MAX_NAME_CHARS = 200
MAX_AGENCY_CHARS = 120
MAX_REFERENCE_CHARS = 120

NO_REFERRAL_REASON = ("Record why you decided not to refer: a decision not to refer must give its reasons "
                      "(e.g. what you weighed up and who you consulted).")


# --- the incident a record is about ---------------------------------------------------------------

def load_incident(session: Session, actor: Actor, incident_id) -> Incident:
    incident = session.get(Incident, incident_id) if is_id(incident_id) else None
    if incident is None or incident.school_id != actor.school_id or actor.kind != "staff":
        raise NotFound("No such incident.")
    return incident


def sensitivities_of(incident: Incident) -> list[str]:
    return [c.sensitivity for c in incident.categories]


def chronicle(session: Session, incident: Incident, *, entry_type: str, ref_id, occurred_at: datetime,
              title: str) -> None:
    """One chronology line for the incident's pupil and one for each linked pupil, with their role."""
    pupils = [(incident.pupil_id, None), *((lp.pupil_id, lp.role) for lp in incident.linked_pupils)]
    for pupil_id, role in pupils:
        add_entry(session, school_id=incident.school_id, pupil_id=pupil_id, entry_type=entry_type,
                             ref_id=ref_id, incident_id=incident.id, occurred_at=occurred_at, title=title,
                             category_ids=[c.id for c in incident.categories],
                             sensitivities=sensitivities_of(incident), role=role)


def _lower_first(label: str) -> str:
    return label[:1].lower() + label[1:]


# --- actions ----------------------------------------------------------------------------------------







def action_dict(a: Action) -> dict:
    return {"id": a.id, "incident_id": a.incident_id, "description": a.description, "taken_at": iso(a.taken_at),
            "assigned_to": ({"id": a.assigned_to, "name": a.assigned_to_name} if a.assigned_to is not None
                            else None),
            "due_on": iso(a.due_on), "created_by": {"id": a.created_by, "name": a.created_by_name},
            "created_at": iso(a.created_at), "completed": a.completed_at is not None,
            "completed_at": iso(a.completed_at),
            "completed_by": ({"id": a.completed_by, "name": a.completed_by_name} if a.completed_at else None),
            "completion_note": a.completion_note}


def action_title(a: Action) -> str:
    """"Action assigned to Sam Lee (due 2026-12-01)": who and when, never what (that stays in the record)."""
    if a.assigned_to is not None:
        title = f"Action assigned to {a.assigned_to_name}"
    else:
        title = f"Action recorded by {a.created_by_name}"
    return f"{title} (due {a.due_on.isoformat()})" if a.due_on else title


def add_action(session: Session, actor: Actor, incident_id, action) -> dict:
    """`data`: description, taken_at (default now), assigned_to_user_id with assigned_to_name (the
    gateway checks the id against its staff and supplies the name), due_on (YYYY-MM-DD)."""
    data = action  # the command's fields (`action` below may be the saved row)
    incident = load_incident(session, actor, incident_id)
    if not can_add_action(actor, incident):
        raise Forbidden("Only the DSL team, the member of staff who recorded this, or staff alerted about it "
                        "can add actions to it.")
    data = data if isinstance(data, dict) else {}
    error = Errors()
    description = text(data.get("description"), "description", error, limit=MAX_DESCRIPTION_CHARS,
                       what="The action", required="Say what was done, or is to be done.")
    taken_at = when(data.get("taken_at"), "taken_at", "the action was taken or agreed", error)
    assignee, assignee_name = data.get("assigned_to_user_id"), data.get("assigned_to_name")
    if assignee is not None:
        if not is_id(assignee) or not isinstance(assignee_name, str) or not assignee_name.strip() \
                or len(assignee_name) > MAX_NAME_CHARS:
            error("assigned_to_user_id", "Choose the member of staff to assign this to from the list.")
            assignee = assignee_name = None
        else:
            assignee_name = assignee_name.strip()
    else:
        assignee_name = None
    due_on = day(data.get("due_on"), "due_on", "the due date", error)
    if due_on and taken_at and due_on < taken_at.date():
        error("due_on", "The due date is before the action was taken or agreed. Check the dates.")
    error.raise_if_any()

    action = Action(school_id=incident.school_id, incident_id=incident.id, description=description,
                    taken_at=taken_at, assigned_to=assignee, assigned_to_name=assignee_name, due_on=due_on,
                    created_by=actor.user_id, created_by_name=actor.name, created_at=utcnow())
    session.add(action)
    session.flush()
    chronicle(session, incident, entry_type="action", ref_id=action.id, occurred_at=taken_at,
              title=action_title(action))
    if assignee is not None and assignee != actor.user_id:
        # The assignee hears of it (alerts e-mails them): ids only, never the description.
        add_to_outbox(session, OutboxEvent, make_event(
            "action_assigned", incident.school_id, action_id=action.id, incident_id=incident.id,
            assigned_to=assignee, assigned_by=actor.user_id,
            due_on=due_on.isoformat() if due_on else None))
    return action_dict(action)


def complete_action(session: Session, actor: Actor, action_id, completion) -> dict:
    action = session.get(Action, action_id) if is_id(action_id) else None
    if action is None or action.school_id != actor.school_id:
        raise NotFound("No such action.")
    if not can_complete_action(actor, action):
        raise Forbidden("Only the person the action is assigned to, who added it, or the DSL team can complete it.")
    if action.completed_at is not None:
        raise Conflict(f"This action was already completed by {action.completed_by_name}.")
    completion = completion if isinstance(completion, dict) else {}
    error = Errors()
    note = text(completion.get("note"), "note", error, limit=MAX_NOTE_CHARS, what="The note")
    error.raise_if_any()
    action.completed_at, action.completed_by, action.completed_by_name = utcnow(), actor.user_id, actor.name
    action.completion_note = note
    incident = session.get(Incident, action.incident_id)
    chronicle(session, incident, entry_type="action", ref_id=action.id, occurred_at=action.completed_at,
              title=f"Action completed by {actor.name}")
    session.flush()
    return action_dict(action)


def list_my_actions(session: Session, actor: Actor, open_only: bool = True) -> list[dict]:
    """"My actions": what is assigned to the caller, soonest due first (no due date last)."""
    query = select(Action).where(Action.school_id == actor.school_id, Action.assigned_to == actor.user_id)
    if open_only:
        query = query.where(Action.completed_at.is_(None))
    actions = session.scalars(query.order_by(Action.due_on.is_(None), Action.due_on, Action.id))
    return [action_dict(a) for a in actions]


def list_school_actions(session: Session, actor: Actor, open_only: bool = True) -> list[dict]:
    """Every action in the school (the DSL team's overview)."""
    if not actor.is_dsl:
        raise Forbidden("Only the DSL team can see everyone's actions; ask for your own (assigned=me).")
    query = select(Action).where(Action.school_id == actor.school_id)
    if open_only:
        query = query.where(Action.completed_at.is_(None))
    actions = session.scalars(query.order_by(Action.due_on.is_(None), Action.due_on, Action.id))
    return [action_dict(a) for a in actions]


def list_incident_actions(session: Session, actor: Actor, incident_id) -> list[dict]:
    """For anyone who may read the incident, or who may add actions to it (alerted staff)."""
    incident = load_incident(session, actor, incident_id)
    if not (can_read_incident(actor, incident) or can_add_action(actor, incident)):
        raise Forbidden("You do not have permission to see this incident's actions.")
    actions = session.scalars(select(Action).where(Action.incident_id == incident.id).order_by(Action.taken_at,
                                                                                               Action.id))
    return [action_dict(a) for a in actions]


# --- decisions and outcomes (the DSL team) ------------------------------------------------------------

def _dsl_incident(session: Session, actor: Actor, incident_id, doing: str) -> Incident:
    incident = load_incident(session, actor, incident_id)
    if not actor.is_dsl:
        raise Forbidden(f"Only the DSL team can {doing}.")
    return incident


def decision_dict(d: Decision) -> dict:
    return {"id": d.id, "incident_id": d.incident_id, "decision_type": d.decision_type,
            "decision_type_label": DECISION_TYPE_LABELS.get(d.decision_type, d.decision_type),
            "agency": d.agency, "reference": d.reference, "reason": d.reason, "decided_at": iso(d.decided_at),
            "decided_by": {"id": d.decided_by, "name": d.decided_by_name}}


def decision_title(d: Decision) -> str:
    if d.decision_type == "no_referral":
        return "Decision: not to refer"
    if d.decision_type == "other_agency":
        return f"Decision: referral to {d.agency}"
    return "Decision: " + _lower_first(DECISION_TYPE_LABELS[d.decision_type])


def record_decision(session: Session, actor: Actor, incident_id, decision) -> dict:
    """`data`: decision_type, reason (always; a decision not to refer must say why), agency (for
    other_agency), reference (e.g. the social-care case number), decided_at (default now)."""
    data = decision  # the command's fields (`decision` below may be the saved row)
    incident = _dsl_incident(session, actor, incident_id, "record decisions")
    data = data if isinstance(data, dict) else {}
    error = Errors()
    decision_type = data.get("decision_type")
    if decision_type not in DECISION_TYPES:
        error("decision_type", "Choose the decision: " + "; ".join(
            _lower_first(label) for label in DECISION_TYPE_LABELS.values()) + ".")
    missing_reason = (NO_REFERRAL_REASON if decision_type == "no_referral"
                      else "Give the reasons for this decision.")
    reason = text(data.get("reason"), "reason", error, limit=MAX_REASON_CHARS, what="The reason",
                  required=missing_reason)
    agency = text(data.get("agency"), "agency", error, limit=MAX_AGENCY_CHARS, what="The agency",
                  required="Name the agency you referred to." if decision_type == "other_agency" else None)
    reference = text(data.get("reference"), "reference", error, limit=MAX_REFERENCE_CHARS, what="The reference")
    decided_at = when(data.get("decided_at"), "decided_at", "the decision was made", error)
    error.raise_if_any()

    decision = Decision(school_id=incident.school_id, incident_id=incident.id, decision_type=decision_type,
                        agency=agency, reference=reference, reason=reason, decided_at=decided_at,
                        decided_by=actor.user_id, decided_by_name=actor.name)
    session.add(decision)
    session.flush()
    chronicle(session, incident, entry_type="decision", ref_id=decision.id, occurred_at=decided_at,
              title=decision_title(decision))
    return decision_dict(decision)


def _readable_follow_up(session: Session, actor: Actor, incident_id) -> Incident:
    """Decisions and outcomes: the DSL team, and SLT for incidents outside safeguarding."""
    incident = load_incident(session, actor, incident_id)
    if not can_read_sensitivities(actor, sensitivities_of(incident)):
        raise Forbidden("You do not have permission to see this incident's decisions and outcomes.")
    return incident


def list_decisions(session: Session, actor: Actor, incident_id) -> list[dict]:
    incident = _readable_follow_up(session, actor, incident_id)
    rows = session.scalars(select(Decision).where(Decision.incident_id == incident.id)
                           .order_by(Decision.decided_at, Decision.id))
    return [decision_dict(d) for d in rows]


def outcome_dict(o: Outcome) -> dict:
    return {"id": o.id, "incident_id": o.incident_id, "outcome_type": o.outcome_type,
            "outcome_type_label": OUTCOME_TYPE_LABELS.get(o.outcome_type, o.outcome_type), "note": o.note,
            "recorded_at": iso(o.recorded_at), "recorded_by": {"id": o.recorded_by, "name": o.recorded_by_name}}


def record_outcome(session: Session, actor: Actor, incident_id, outcome) -> dict:
    """`data`: outcome_type, note (required for "other")."""
    data = outcome  # the command's fields (`outcome` below may be the saved row)
    incident = _dsl_incident(session, actor, incident_id, "record outcomes")
    data = data if isinstance(data, dict) else {}
    error = Errors()
    outcome_type = data.get("outcome_type")
    if outcome_type not in OUTCOME_TYPES:
        error("outcome_type", "Choose the outcome: " + "; ".join(
            _lower_first(label) for label in OUTCOME_TYPE_LABELS.values()) + ".")
    note = text(data.get("note"), "note", error, limit=MAX_NOTE_CHARS, what="The note",
                required="Say what the outcome was." if outcome_type == "other" else None)
    error.raise_if_any()

    outcome = Outcome(school_id=incident.school_id, incident_id=incident.id, outcome_type=outcome_type, note=note,
                      recorded_at=utcnow(), recorded_by=actor.user_id, recorded_by_name=actor.name)
    session.add(outcome)
    session.flush()
    chronicle(session, incident, entry_type="outcome", ref_id=outcome.id, occurred_at=outcome.recorded_at,
              title="Outcome: " + _lower_first(OUTCOME_TYPE_LABELS[outcome_type]))
    return outcome_dict(outcome)


def list_outcomes(session: Session, actor: Actor, incident_id) -> list[dict]:
    incident = _readable_follow_up(session, actor, incident_id)
    rows = session.scalars(select(Outcome).where(Outcome.incident_id == incident.id)
                           .order_by(Outcome.recorded_at, Outcome.id))
    return [outcome_dict(o) for o in rows]

