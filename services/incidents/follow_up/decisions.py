"""Decisions with their reasons (a decision not to refer must give its rationale) and outcomes: the
DSL team records them; the DSL team, and SLT and category readers for the records their role reads,
read them (policy.reads_follow_up). Each is
append-only and goes in the chronology like an action (actions.chronicle).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.contracts.incidents import DECISION_TYPE_LABELS, OUTCOME_TYPE_LABELS
from services.common.db import utcnow

from ..chronology import details
from ..exceptions import Forbidden
from ..fields import Errors, iso, optional_text, required_text, when
from ..models import Decision, Incident, Outcome
from ..policy import can_record_decision, reads_follow_up, require_step_up
from .actions import _lower_first, chronicle, load_incident

NO_REFERRAL_REASON = ("Record why you decided not to refer: a decision not to refer must give its reasons "
                      "(e.g. what you weighed up and who you consulted).")


# --- decisions and outcomes (the DSL team) ------------------------------------------------------------

def _dsl_incident(session: Session, actor: Actor, incident_id, doing: str) -> Incident:
    incident = load_incident(session, actor, incident_id)
    if not can_record_decision(actor, incident):
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


def record_decision(session: Session, actor: Actor, incident_id: int, decision: dict) -> dict:
    """`data`: decision_type, reason (always; a decision not to refer must say why), agency (for
    other_agency), reference (e.g. the social-care case number), decided_at (default now)."""
    data = decision  # the command's fields (`decision` below may be the saved row)
    incident = _dsl_incident(session, actor, incident_id, "record decisions")
    error = Errors()
    decision_type = data.get("decision_type")
    if decision_type is None:  # the contract knows the word list; choosing one is checked here
        error("decision_type", "Choose the decision: " + "; ".join(
            _lower_first(label) for label in DECISION_TYPE_LABELS.values()) + ".")
    missing_reason = (NO_REFERRAL_REASON if decision_type == "no_referral"
                      else "Give the reasons for this decision.")
    reason = required_text(data.get("reason"), "reason", error, missing_reason)
    agency = optional_text(data.get("agency"))
    if agency is None and decision_type == "other_agency":
        error("agency", "Name the agency you referred to.")
    reference = optional_text(data.get("reference"))
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
    """Decisions and outcomes: the DSL team, and SLT or category readers for the records they read by
    their role (never alerted staff, nor the recorder as such)."""
    incident = load_incident(session, actor, incident_id)
    if not reads_follow_up(actor, incident):
        raise Forbidden("You do not have permission to see this incident's decisions and outcomes.")
    require_step_up(actor, incident)
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


def record_outcome(session: Session, actor: Actor, incident_id: int, outcome: dict) -> dict:
    """`data`: outcome_type, note (required for "other")."""
    data = outcome  # the command's fields (`outcome` below may be the saved row)
    incident = _dsl_incident(session, actor, incident_id, "record outcomes")
    error = Errors()
    outcome_type = data.get("outcome_type")
    if outcome_type is None:
        error("outcome_type", "Choose the outcome: " + "; ".join(
            _lower_first(label) for label in OUTCOME_TYPE_LABELS.values()) + ".")
    note = optional_text(data.get("note"))
    if note is None and outcome_type == "other":
        error("note", "Say what the outcome was.")
    error.raise_if_any()

    outcome = Outcome(school_id=incident.school_id, incident_id=incident.id, outcome_type=outcome_type, note=note,
                      recorded_at=utcnow(), recorded_by=actor.user_id, recorded_by_name=actor.name)
    session.add(outcome)
    session.flush()
    chronicle(session, incident, entry_type="outcome", ref_id=outcome.id, occurred_at=outcome.recorded_at,
              title="Outcome: " + _lower_first(OUTCOME_TYPE_LABELS[outcome_type]))
    details.refresh(session, incident)  # the incident's lines show its latest outcome
    return outcome_dict(outcome)


def list_outcomes(session: Session, actor: Actor, incident_id) -> list[dict]:
    incident = _readable_follow_up(session, actor, incident_id)
    rows = session.scalars(select(Outcome).where(Outcome.incident_id == incident.id)
                           .order_by(Outcome.recorded_at, Outcome.id))
    return [outcome_dict(o) for o in rows]

