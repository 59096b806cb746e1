"""Who may see and do what with the incidents service's records: the one place that answers it. The
gateway checks first and this re-checks; `may` tells the gateway what a reader may do with a record,
so it never copies these rules.

The rules, in the order they apply:
1. Self-exclusion: a record that names a member of staff (the adult an allegation is about, or a
   parent or carer of one of its pupils) does not exist for that person, whatever their role.
2. Restriction: a record the DSL team restricted is read by the DSL team alone.
3. Categories: a reader reads a record only if it has a category and every one of its categories
   is readable to them (DSL team: all; SLT: behaviour and pastoral; a category reader: what their
   group's grants cover for the pupil's year group). A record without a category is closed.
   The recorder reads what they wrote.
4. Alerts: staff alerted about a record (or assigned an action on it) read it "as shared with them".
5. Step-up: a record in a safeguarding category needs a second factor given recently, except for
   its recorder and for alerted staff who hold no second factor at all.
Categories' sensitivities are always the current ones (a category made stricter applies at once).
"""
from __future__ import annotations

from sqlalchemy import select, union
from sqlalchemy.sql import Select

from services.common.actor import Actor
from services.common.errors import StepUpRequired

from .exceptions import Forbidden
from .models import Action, Incident, IncidentExclusion, LinkedPupil, StaffRelative

# SLT read non-safeguarding records (behaviour, attendance, parental contact: the "behaviour" and
# "pastoral" sensitivities); medical and SEN records belong to their leads; the DSL team reads all.
SLT_READABLE = {"behaviour", "pastoral"}
# Reading a record in a category of this sensitivity needs a recent second factor (step-up).
STEP_UP_SENSITIVITY = "safeguarding"


# --- tiers ----------------------------------------------------------------------------------------------

def is_dsl_team(actor: Actor) -> bool:
    """The DSL and deputies (with their second factor): cases, decisions, outcomes, the tray, the roll
    import, family links, household and agencies, significant events, everyone's actions."""
    return actor.kind == "staff" and actor.is_dsl


def require_dsl_team(actor: Actor, doing: str) -> None:
    """Refuse anyone outside the DSL team: "Only the DSL team can <doing>." """
    if not is_dsl_team(actor):
        raise Forbidden(f"Only the DSL team can {doing}.")


def manages_categories(actor: Actor) -> bool:
    """The DSL team, or an administrator (who manages categories without reading any record)."""
    return actor.kind == "staff" and (actor.is_dsl or actor.is_admin)


def require_category_manager(actor: Actor) -> None:
    if not manages_categories(actor):
        raise Forbidden("Only the DSL team or an administrator can manage categories.")


def may_record(actor: Actor) -> bool:
    """Staff, the DSL team, SLT and category readers record; an administrator or a governor by that role
    alone does not, nor does an integration (it posts to the tray)."""
    return actor.records


def require_recorder(actor: Actor) -> None:
    if not may_record(actor):
        raise Forbidden("Your role does not record concerns. Ask a member of staff who witnessed it to record it.")


def is_category_reader(actor: Actor) -> bool:
    return actor.kind == "staff" and actor.second_factor_verified and bool(actor.grants)


def may_read_chronology(actor: Actor) -> bool:
    """The DSL team reads every line; SLT and category readers the lines of the records they may read."""
    return actor.kind == "staff" and (actor.is_dsl or actor.is_slt or is_category_reader(actor))


def may_read_front_sheet(actor: Actor) -> bool:
    """As the chronology; without the DSL-only sections for anyone but the DSL team."""
    return may_read_chronology(actor)


def sees_details(actor: Actor) -> bool:
    """Readers of records (DSL team, SLT, category readers) see a pupil's date of birth, UPN and legal name."""
    return may_read_chronology(actor)


def sees_safeguarding_details(actor: Actor) -> bool:
    """Child-protection plan, child in need, looked after, SEN, household and agencies: the DSL team only."""
    return is_dsl_team(actor)


def sees_dsl_only_sections(actor: Actor) -> bool:
    """A front sheet's flags, household, agencies and open cases, and siblings who have left the roll."""
    return is_dsl_team(actor)


def sees_leavers(actor: Actor) -> bool:
    """Pupils who have left the roll (their details, their siblings): the DSL team keeps their files."""
    return is_dsl_team(actor)


def sees_original(actor: Actor) -> bool:
    """The record as first written, beside its amendments (DESIGN rule 6): the DSL team; others read
    it as corrected."""
    return is_dsl_team(actor)


def may_look_up_pupils(actor: Actor) -> bool:
    """Pupil search and a pupil's summary: whoever records or reads records (not an administrator or a
    governor alone, not an integration)."""
    return actor.records or may_read_chronology(actor)


def may_post_to_tray(actor: Actor) -> bool:
    """Only a monitoring system's API key posts alerts to the tray (and it reads nothing back)."""
    return actor.kind == "integration" and "integration" in actor.roles


# --- categories ----------------------------------------------------------------------------------------

def category_readable(actor: Actor, category_id: int, sensitivity: str | None, year_group: str | None) -> bool:
    """One category, for a pupil in this year group, to a reader by their role or groups."""
    if actor.kind != "staff":
        return False  # an integration posts to the tray and reads nothing
    if actor.is_dsl:
        return True
    if actor.is_slt and sensitivity in SLT_READABLE:
        return True
    return actor.granted(category_id, year_group)


def reads_categories(actor: Actor, categories, year_group: str | None) -> bool:
    """`categories`: (id, current sensitivity) pairs. Every one readable, and at least one: a record
    without a category is closed to everyone but the DSL team (and its recorder)."""
    categories = list(categories)
    if not categories:
        return is_dsl_team(actor)
    return all(category_readable(actor, cid, sensitivity, year_group) for cid, sensitivity in categories)


def needs_step_up(sensitivities) -> bool:
    return STEP_UP_SENSITIVITY in set(sensitivities)


def line_access(actor: Actor, categories, year_group: str | None) -> str:
    """A chronology line or a counted record, by its categories' current sensitivities: "read",
    "step_up" (readable once a recent second factor is given) or "hidden"."""
    categories = list(categories)
    if not reads_categories(actor, categories, year_group):
        return "hidden"
    if needs_step_up(s for _, s in categories) and not actor.stepped_up():
        return "step_up"
    return "read"


def _pairs(incident: Incident) -> list[tuple[int, str]]:
    return [(c.id, c.sensitivity) for c in incident.categories]


# --- self-exclusion and restriction -------------------------------------------------------------------

def excluded_from(actor: Actor, incident: Incident) -> bool:
    """The record names this person: as the adult it is about, or as a parent or carer of its pupil or
    of a linked pupil. Then it does not exist for them (404), whatever their role."""
    me = actor.user_id
    return (me in incident.excluded_staff_ids or me in incident.pupil.staff_relative_ids
            or any(me in link.pupil.staff_relative_ids for link in incident.linked_pupils))


def _excluded_parts(actor: Actor) -> list[Select]:
    relatives = select(StaffRelative.pupil_id).where(StaffRelative.user_id == actor.user_id)
    return [select(IncidentExclusion.incident_id).where(IncidentExclusion.user_id == actor.user_id),
            select(Incident.id).where(Incident.pupil_id.in_(relatives)),
            select(LinkedPupil.incident_id).where(LinkedPupil.pupil_id.in_(relatives))]


def excluded_incident_ids(actor: Actor):
    """The ids of every incident hidden from this actor by self-exclusion, as a subquery."""
    return union(*_excluded_parts(actor))


def hidden_incident_ids(actor: Actor):
    """Incidents this actor never sees in a list: self-excluded ones, and restricted ones unless DSL."""
    parts = _excluded_parts(actor)
    if not is_dsl_team(actor):
        parts.append(select(Incident.id).where(Incident.restricted.is_(True)))
    return union(*parts)


def excluded_from_pupil(actor: Actor, pupil) -> bool:
    """The actor is this pupil's parent or carer: the pupil's file does not exist for them."""
    return actor.user_id in pupil.staff_relative_ids


def excluded_pupil_ids(actor: Actor) -> Select:
    """Pupils whose parent or carer this actor is: hidden from them (search, details, chronology)."""
    return select(StaffRelative.pupil_id).where(StaffRelative.user_id == actor.user_id)


def exists_for(actor: Actor, incident: Incident) -> bool:
    """The record exists for this actor: their school's, they are staff, and it does not name them."""
    return (incident.school_id == actor.school_id and actor.kind == "staff"
            and not excluded_from(actor, incident))


# --- reading a record ----------------------------------------------------------------------------------

def reads_by_role(actor: Actor, incident: Incident) -> bool:
    """By role or group (not as its recorder or as alerted): restriction, then categories."""
    if incident.restricted:
        return is_dsl_team(actor)
    return reads_categories(actor, _pairs(incident), incident.pupil.year_group)


def reads_whole(actor: Actor, incident: Incident) -> bool:
    """The whole record (linked pupils, body map, documents, the history of corrections)."""
    if not exists_for(actor, incident):
        return False
    if incident.restricted:
        return is_dsl_team(actor)
    return incident.recorded_by == actor.user_id or reads_by_role(actor, incident)


def was_alerted(actor: Actor, incident: Incident) -> bool:
    """Named in the incident's alerts, in a group it alerted (the DSL team, SLT), or assigned an action
    on it (being assigned one is being told about it)."""
    for alert in incident.alerts:
        if alert.user_id is not None and alert.user_id == actor.user_id:
            return True
        if (alert.group == "dsl" and actor.is_dsl) or (alert.group == "slt" and actor.is_slt):
            return True
    return any(a.assigned_to == actor.user_id for a in incident.actions)


def reads_shared(actor: Actor, incident: Incident) -> bool:
    """The record "as shared with them": alerted staff (SLT too) who may not otherwise read it. A
    restricted record is shared with no one."""
    return (exists_for(actor, incident) and not incident.restricted and not reads_whole(actor, incident)
            and was_alerted(actor, incident))


def can_read_incident(actor: Actor, incident: Incident) -> bool:
    """Reads it whole or as shared with them (before the step-up check, `require_step_up`)."""
    return reads_whole(actor, incident) or reads_shared(actor, incident)


def step_up_needed(actor: Actor, incident: Incident) -> bool:
    """A safeguarding record read by role needs a recent second factor. Its recorder never does; staff
    alerted about it who hold no second factor cannot give one and read the shared view without."""
    if incident.recorded_by == actor.user_id or not needs_step_up(s for _, s in _pairs(incident)):
        return False
    if reads_shared(actor, incident) and not actor.reads_records:
        return False
    return not actor.stepped_up()


def require_step_up(actor: Actor, incident: Incident) -> None:
    if step_up_needed(actor, incident):
        raise StepUpRequired()


def can_attach_to_incident(actor: Actor, incident: Incident) -> bool:
    """Its recorder (unless the DSL team restricted it) and the DSL team."""
    return exists_for(actor, incident) and (
        is_dsl_team(actor) or (incident.recorded_by == actor.user_id and not incident.restricted))


def can_amend_incident(actor: Actor, incident: Incident) -> bool:
    """The member of staff who recorded it (unless restricted), and the DSL team."""
    return can_attach_to_incident(actor, incident)


def can_add_action(actor: Actor, incident: Incident) -> bool:
    """The DSL team, whoever reads it whole (its recorder, SLT or a category reader in their categories:
    they record in them) and staff who were alerted about it."""
    if not exists_for(actor, incident):
        return False
    if is_dsl_team(actor):
        return True
    return not incident.restricted and (reads_whole(actor, incident) or was_alerted(actor, incident))


def sees_action(actor: Actor, action: Action) -> bool:
    """The DSL team sees every action; anyone else only the actions they added or were assigned."""
    return is_dsl_team(actor) or actor.user_id in (action.created_by, action.assigned_to)


def can_complete_action(actor: Actor, action: Action) -> bool:
    return (action.school_id == actor.school_id and actor.kind == "staff"
            and (actor.is_dsl or action.assigned_to == actor.user_id or action.created_by == actor.user_id))


def reads_follow_up(actor: Actor, incident: Incident) -> bool:
    """Decisions and outcomes: readers by role (the DSL team; SLT and category readers for the records
    their categories give them), never its recorder or alerted staff as such."""
    return exists_for(actor, incident) and reads_by_role(actor, incident)


def can_record_decision(actor: Actor, incident: Incident) -> bool:
    """Decisions and outcomes are the DSL team's, on their own school's incidents."""
    return is_dsl_team(actor) and exists_for(actor, incident)


def may(actor: Actor, incident: Incident) -> dict[str, bool]:
    """What this reader may do with this incident (the incident view's `may`). `shared`: they read
    it as shared with them (alerted), without its linked pupils, body map, documents or follow-up."""
    whole = reads_whole(actor, incident)
    shared = not whole and reads_shared(actor, incident)
    dsl = can_record_decision(actor, incident)
    return {"amend": can_amend_incident(actor, incident), "attach": can_attach_to_incident(actor, incident),
            "add_action": can_add_action(actor, incident), "see_actions": whole or shared,
            "see_all_actions": dsl, "record_decision": dsl, "record_outcome": dsl,
            "see_follow_up": reads_follow_up(actor, incident), "add_to_case": dsl, "restrict": dsl,
            "exclude_staff": dsl, "see_documents": whole, "see_body_map": whole, "shared": shared}
