"""What the school does about an incident: actions (done or to do, assigned, completed); decisions
and outcomes are in decisions.py.

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
from ..fields import Errors, day, iso, optional_text, required_text, when
from ..models import Action, Incident, OutboxEvent, StaffRelative
from ..policy import (can_add_action, can_complete_action, can_read_incident, exists_for, hidden_incident_ids,
                      is_dsl_team, require_dsl_team, require_step_up, sees_action)


# --- the incident a record is about ---------------------------------------------------------------

def load_incident(session: Session, actor: Actor, incident_id: int) -> Incident:
    """404 for another school's incident and for one that names this actor (self-exclusion)."""
    incident = session.get(Incident, incident_id)
    if incident is None or not exists_for(actor, incident):
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


def add_action(session: Session, actor: Actor, incident_id: int, action: dict) -> dict:
    """`data`: description, taken_at (default now), assigned_to_user_id with assigned_to_name (the
    gateway checks the id against its staff and supplies the name), due_on (YYYY-MM-DD)."""
    data = action  # the command's fields (`action` below may be the saved row)
    incident = load_incident(session, actor, incident_id)
    if not can_add_action(actor, incident):
        raise Forbidden("Only the DSL team, the member of staff who recorded this, or staff alerted about it "
                        "can add actions to it.")
    error = Errors()
    description = required_text(data.get("description"), "description", error,
                                "Say what was done, or is to be done.")
    taken_at = when(data.get("taken_at"), "taken_at", "the action was taken or agreed", error)
    assignee, assignee_name = data.get("assigned_to_user_id"), optional_text(data.get("assigned_to_name"))
    if assignee is not None and assignee_name is None:  # the gateway names the staff member it checked
        error("assigned_to_user_id", "Choose the member of staff to assign this to from the list.")
        assignee = None
    elif assignee is not None and _hidden_from(session, incident, assignee):
        # Never hand a record to someone it names; say why to the DSL team only (the reason is itself
        # the sensitive part).
        error("assigned_to_user_id", "This record is hidden from that member of staff; assign it to someone else."
              if is_dsl_team(actor) else "This cannot be assigned to that member of staff; ask the DSL team.")
        assignee = None
    elif assignee is None:
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


def _hidden_from(session: Session, incident: Incident, user_id: int) -> bool:
    """Does the record name this member of staff (self-exclusion)?"""
    pupils = [incident.pupil_id, *(lp.pupil_id for lp in incident.linked_pupils)]
    return user_id in incident.excluded_staff_ids or session.scalar(
        select(StaffRelative.user_id).where(StaffRelative.user_id == user_id, StaffRelative.pupil_id.in_(pupils))
        .limit(1)) is not None


def complete_action(session: Session, actor: Actor, action_id: int, completion: dict) -> dict:
    action = session.get(Action, action_id)
    if action is None or action.school_id != actor.school_id:
        raise NotFound("No such action.")
    incident = session.get(Incident, action.incident_id)
    if not exists_for(actor, incident):
        raise NotFound("No such action.")
    if not can_complete_action(actor, action) or not (is_dsl_team(actor) or can_read_incident(actor, incident)):
        raise Forbidden("Only the person the action is assigned to, who added it, or the DSL team can complete it.")
    if action.completed_at is not None:
        raise Conflict(f"This action was already completed by {action.completed_by_name}.")
    note = optional_text(completion.get("note"))
    action.completed_at, action.completed_by, action.completed_by_name = utcnow(), actor.user_id, actor.name
    action.completion_note = note
    chronicle(session, incident, entry_type="action", ref_id=action.id, occurred_at=action.completed_at,
              title=f"Action completed by {actor.name}")
    # Its owner's due-date reminders stop (the alerts service): ids only, never the description or note.
    add_to_outbox(session, OutboxEvent, make_event(
        "action_completed", action.school_id, action_id=action.id, incident_id=incident.id,
        completed_by=actor.user_id))
    session.flush()
    return action_dict(action)


def list_my_actions(session: Session, actor: Actor, open_only: bool = True) -> list[dict]:
    """"My actions": what is assigned to the caller, soonest due first (no due date last); never on a
    record hidden from them (restricted, or naming them)."""
    query = select(Action).where(Action.school_id == actor.school_id, Action.assigned_to == actor.user_id,
                                 Action.incident_id.not_in(hidden_incident_ids(actor)))
    if open_only:
        query = query.where(Action.completed_at.is_(None))
    actions = session.scalars(query.order_by(Action.due_on.is_(None), Action.due_on, Action.id))
    return [action_dict(a) for a in actions]


def list_school_actions(session: Session, actor: Actor, open_only: bool = True) -> list[dict]:
    """Every action in the school (the DSL team's overview)."""
    require_dsl_team(actor, "see everyone's actions; ask for your own (assigned=me)")
    query = select(Action).where(Action.school_id == actor.school_id,
                                 Action.incident_id.not_in(hidden_incident_ids(actor)))
    if open_only:
        query = query.where(Action.completed_at.is_(None))
    actions = session.scalars(query.order_by(Action.due_on.is_(None), Action.due_on, Action.id))
    return [action_dict(a) for a in actions]


def list_incident_actions(session: Session, actor: Actor, incident_id) -> list[dict]:
    """For anyone who may read the incident (whole or as shared with them): the DSL team sees every
    action; anyone else only the actions they added or were assigned — never the DSL team's others."""
    incident = load_incident(session, actor, incident_id)
    if not can_read_incident(actor, incident):
        raise Forbidden("You do not have permission to see this incident's actions.")
    require_step_up(actor, incident)
    actions = session.scalars(select(Action).where(Action.incident_id == incident.id).order_by(Action.taken_at,
                                                                                               Action.id))
    return [action_dict(a) for a in actions if sees_action(actor, a)]
