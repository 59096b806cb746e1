"""Who may see and do what with the incidents service's records: the one place that answers it. The
gateway checks first and this re-checks; `may` tells the gateway what a reader may do with a record,
so it never copies these rules."""
from __future__ import annotations

from services.common.actor import Actor

from .exceptions import Forbidden
from .models import Action, Incident

# SLT read non-safeguarding records (behaviour, attendance, parental contact: the "behaviour" and
# "pastoral" sensitivities); medical and SEN records belong to their leads; the DSL team reads all.
SLT_READABLE = {"behaviour", "pastoral"}


def can_read_sensitivities(actor: Actor, sensitivities) -> bool:
    """May this actor read a record whose categories have these sensitivities (not as its author)?"""
    if actor.kind != "staff":
        return False  # an integration posts to the tray and reads nothing
    if actor.is_dsl:
        return True
    if actor.is_slt:
        return all(s in SLT_READABLE for s in sensitivities)
    return False


def can_read_incident(actor: Actor, incident: Incident) -> bool:
    if incident.school_id != actor.school_id or actor.kind != "staff":
        return False
    if incident.recorded_by == actor.user_id:
        return True  # staff can see what they themselves wrote
    return can_read_sensitivities(actor, [c.sensitivity for c in incident.categories])


def can_attach_to_incident(actor: Actor, incident: Incident) -> bool:
    return (incident.school_id == actor.school_id and actor.kind == "staff"
            and (incident.recorded_by == actor.user_id or actor.is_dsl))


def can_amend_incident(actor: Actor, incident: Incident) -> bool:
    """The member of staff who recorded it, and the DSL team."""
    return incident.school_id == actor.school_id and (incident.recorded_by == actor.user_id or actor.is_dsl)


def was_alerted(actor: Actor, incident: Incident) -> bool:
    """Named in the incident's alerts, or in a group it alerted (the DSL team, SLT)."""
    for alert in incident.alerts:
        if alert.user_id is not None and alert.user_id == actor.user_id:
            return True
        if (alert.group == "dsl" and actor.is_dsl) or (alert.group == "slt" and actor.is_slt):
            return True
    return False


def can_add_action(actor: Actor, incident: Incident) -> bool:
    """The DSL team, the member of staff who recorded it, and staff who were alerted about it."""
    return (incident.school_id == actor.school_id and actor.kind == "staff"
            and (actor.is_dsl or incident.recorded_by == actor.user_id or was_alerted(actor, incident)))


def can_complete_action(actor: Actor, action: Action) -> bool:
    return (action.school_id == actor.school_id and actor.kind == "staff"
            and (actor.is_dsl or action.assigned_to == actor.user_id or action.created_by == actor.user_id))


def may_read_chronology(actor: Actor) -> bool:
    """The DSL team reads every line; SLT the lines outside safeguarding; other staff none."""
    return actor.kind == "staff" and (actor.is_dsl or actor.is_slt)


def sees_details(actor: Actor) -> bool:
    """The DSL team and SLT (with their second factor) see a pupil's full details and flags."""
    return actor.is_dsl or actor.is_slt


def may_read_front_sheet(actor: Actor) -> bool:
    """The DSL team and SLT; SLT without the DSL-only sections (`sees_dsl_only_sections`)."""
    return may_read_chronology(actor)


def is_dsl_team(actor: Actor) -> bool:
    """The DSL and deputies (with their second factor): cases, decisions, outcomes, the tray, the roll
    import, categories, family links, household and agencies, significant events, everyone's actions."""
    return actor.kind == "staff" and actor.is_dsl


def require_dsl_team(actor: Actor, doing: str) -> None:
    """Refuse anyone outside the DSL team: "Only the DSL team can <doing>." """
    if not is_dsl_team(actor):
        raise Forbidden(f"Only the DSL team can {doing}.")


def sees_dsl_only_sections(actor: Actor) -> bool:
    """A front sheet's agencies and open cases, and siblings who have left the roll."""
    return is_dsl_team(actor)


def sees_leavers(actor: Actor) -> bool:
    """Pupils who have left the roll (their details, their siblings): the DSL team keeps their files."""
    return is_dsl_team(actor)


def sees_original(actor: Actor) -> bool:
    """The record as first written, beside its amendments (DESIGN rule 6): the DSL team; others read
    it as corrected."""
    return is_dsl_team(actor)


def can_record_decision(actor: Actor, incident: Incident) -> bool:
    """Decisions and outcomes are the DSL team's, on their own school's incidents."""
    return is_dsl_team(actor) and incident.school_id == actor.school_id


def may_post_to_tray(actor: Actor) -> bool:
    """Only a monitoring system's API key posts alerts to the tray (and it reads nothing back)."""
    return actor.kind == "integration" and "integration" in actor.roles


def may(actor: Actor, incident: Incident) -> dict[str, bool]:
    """What this reader may do with this incident (the incident view's `may`)."""
    follow_up = (incident.school_id == actor.school_id
                 and can_read_sensitivities(actor, [c.sensitivity for c in incident.categories]))
    dsl = can_record_decision(actor, incident)
    return {"amend": can_amend_incident(actor, incident), "attach": can_attach_to_incident(actor, incident),
            "add_action": can_add_action(actor, incident), "see_actions": can_read_incident(actor, incident) or can_add_action(actor, incident),
            "record_decision": dsl, "record_outcome": dsl, "see_follow_up": follow_up, "add_to_case": dsl}
