"""Who may see an incident. The one place that answers it; the gateway checks first, this re-checks."""
from __future__ import annotations

from services.common.actor import Actor

from .models import Incident

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
