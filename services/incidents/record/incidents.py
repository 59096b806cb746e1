"""The incidents service's rules, in plain Python over a SQLAlchemy session (DESIGN rule 1).

The contract (services/common/contracts/incidents.py: IncidentIn) has checked the form's own rules
before anything here runs: types, lengths, word lists, the date window, required texts, marks on the
body, each linked pupil once and never the record's own pupil. What is left here needs the roll, the
school's categories or who is recording.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.common.actor import Actor
from services.common.contracts.base import parse_moment
from services.common.contracts.incidents import IncidentIn
from services.common.events import add_to_outbox, make_event

from .. import schemas
from ..chronology import details
from ..chronology.entries import add_entry
from . import bodymap
from ..exceptions import Forbidden, NotFound
from ..fields import Errors, optional_text
from ..models import (BodyMapMark, Category, Incident, IncidentAlert, IncidentCategory, IncidentExclusion,
                      LinkedPupil, OutboxEvent, Pupil, StaffRelative)
from ..policy import (can_attach_to_incident, can_read_incident, exists_for, is_dsl_team, may,
                      reads_whole, require_recorder, require_step_up, sees_original)

NOT_ON_ROLL = "That pupil is not on this school's roll. Choose the pupil from the list."
LEFT_ROLL = "That pupil has left the roll; ask the DSL to record against their archived file."


def list_categories(session: Session, actor: Actor) -> list[dict]:
    """The categories in use, for the recording form (and the filters of readers)."""
    query = (select(Category).where(Category.school_id == actor.school_id, Category.active.is_(True))
             .order_by(Category.name))
    return [schemas.category(c) for c in session.scalars(query)]


# --- the pupil, linked pupils, the body map, the DSL told in person -------------------------------

def _roll_problem(pupil: Pupil | None, actor: Actor) -> str | None:
    """Why a record cannot be about this pupil, or None."""
    if pupil is None or pupil.school_id != actor.school_id:
        return NOT_ON_ROLL
    if not pupil.on_roll:
        return LEFT_ROLL
    return None


def _linked_pupils(session: Session, actor: Actor, links, error: Errors) -> list[tuple[Pupil, str]]:
    ids = [link.pupil_id for link in links]
    found = {p.id: p for p in session.scalars(select(Pupil).where(Pupil.id.in_(ids)))} if ids else {}
    chosen = []
    for n, link in enumerate(links):
        problem = _roll_problem(found.get(link.pupil_id), actor)
        if problem:
            error(f"linked_pupils.{n}", problem)
        else:
            chosen.append((found[link.pupil_id], link.role))
    return chosen


def _mark(mark) -> dict:
    return {"side": mark.side, "x": mark.x, "y": mark.y, "mark_type": mark.mark_type,
            **{key: optional_text(getattr(mark, key)) for key in ("colour", "shape", "size", "description")}}


def _dsl_informed(incident: IncidentIn, error: Errors) -> tuple[bool, int | None, str | None]:
    """Who on the DSL team was told in person: the form sends the id, the gateway adds the name."""
    if not incident.dsl_informed_verbally:
        return False, None, None
    name = optional_text(incident.dsl_informed_name)
    if incident.dsl_informed_user_id is None or name is None:
        error("dsl_informed_user_id", "Choose the member of the DSL team you told.")
        return True, None, None
    return True, incident.dsl_informed_user_id, name


# --- full names of linked pupils in the text ------------------------------------------------------

TEXT_FIELDS = ("account", "childs_words", "others_present")


def _name_patterns(p: Pupil) -> list[re.Pattern]:
    forenames = {n for n in (p.legal_forename, p.preferred_forename) if n and n.strip()}
    surnames = {n for n in (p.legal_surname, p.preferred_surname) if n and n.strip()}
    patterns = []
    for fore in forenames:
        for sur in surnames:
            f = r"\s+".join(map(re.escape, fore.split()))
            s = r"\s+".join(map(re.escape, sur.split()))
            patterns.append(re.compile(rf"(?<!\w)(?:{f}\s+{s}|{s}\s*,\s*{f})(?!\w)", re.IGNORECASE))
    return patterns


def name_warnings(texts: dict, pupils: list[Pupil]) -> list[dict]:
    """Warn (never refuse) where a text names a linked pupil in full: staff refer to them by initials."""
    warnings = []
    for field in TEXT_FIELDS:
        text = texts.get(field)
        if not text:
            continue
        for p in pupils:
            if any(pattern.search(text) for pattern in _name_patterns(p)):
                warnings.append({"field": field, "pupil_id": p.id,
                                 "message": "This names a linked pupil in full; refer to linked pupils by their "
                                            f"initials (e.g. {schemas.initials(p)})"})
    return warnings


def check_incident_text(session: Session, actor: Actor, texts: dict) -> dict:
    """What the form asks before saving: does any text name a linked pupil in full?"""
    require_recorder(actor)
    ids = [link["pupil_id"] for link in texts.get("linked_pupils") or []]
    pupils = session.scalars(select(Pupil).where(Pupil.id.in_(ids), Pupil.school_id == actor.school_id)
                             .order_by(Pupil.id)).all() if ids else []
    return {"warnings": name_warnings(texts, list(pupils))}


# --- recording --------------------------------------------------------------------------------

def chronology_title(record_type: str, categories) -> str:
    """"Disclosure — Safeguarding, Bullying": what and which categories, never the account."""
    label = schemas.RECORD_TYPE_TITLES.get(record_type, "Incident")
    names = ", ".join(c.name for c in categories)
    return f"{label} — {names}" if names else label


def record_incident(session: Session, actor: Actor, incident: IncidentIn) -> dict:
    """Check what needs the database first, then write the incident, its links, marks, chronology
    lines and event in one transaction: on any error nothing is written."""
    require_recorder(actor)
    data = incident  # the command (`incident` below is the saved row)
    error = Errors()
    if data.client_token is not None:
        already = session.scalar(select(Incident).where(Incident.school_id == actor.school_id,
                                                        Incident.recorded_by == actor.user_id,
                                                        Incident.client_token == data.client_token))
        if already is not None:
            # The same submission again (a double click, a retry after a time-out): never record it twice.
            return {**schemas.incident(already, show_original=sees_original(actor), warnings=[],
                                       may=may(actor, already), dsl=is_dsl_team(actor)), "replayed": True}
    pupil = session.get(Pupil, data.pupil_id)
    problem = _roll_problem(pupil, actor)
    if problem:
        error("pupil_id", problem)

    categories: list[Category] = []
    category_ids = list(dict.fromkeys(data.category_ids))
    if not category_ids:
        error("category_ids", "Choose at least one category.")
    else:
        found = session.scalars(select(Category).where(Category.id.in_(category_ids),
                                                       Category.school_id == actor.school_id,
                                                       Category.active.is_(True))).all()
        if len(found) != len(category_ids):
            error("category_ids", "One of the chosen categories does not exist or is no longer in use.")
        categories = sorted(found, key=lambda c: category_ids.index(c.id))

    links = _linked_pupils(session, actor, data.linked_pupils, error)
    dsl_verbally, dsl_user_id, dsl_name = _dsl_informed(data, error)
    error.raise_if_any()

    occurred_at = parse_moment(data.occurred_at)
    account = data.account.strip()
    childs_words, others_present = optional_text(data.childs_words), optional_text(data.others_present)
    alert_user_ids = list(dict.fromkeys(data.alert_user_ids))
    # A category's default recipients are always alerted (Safeguarding → the DSL team), so a
    # hurried recorder cannot leave the DSL out of a safeguarding concern.
    groups = list(dict.fromkeys([*data.alert_groups, *(g for c in categories for g in c.default_alert_groups)]))

    incident = Incident(school_id=actor.school_id, pupil_id=pupil.id, occurred_at=occurred_at,
                        recorded_by=actor.user_id, recorded_by_name=actor.name,
                        recorded_by_role=(actor.job_title or None), account=account, urgent=data.urgent,
                        record_type=data.record_type, location=optional_text(data.location),
                        childs_words=childs_words, others_present=others_present,
                        dsl_informed_verbally=dsl_verbally, dsl_informed_user_id=dsl_user_id,
                        dsl_informed_name=dsl_name, client_token=data.client_token)
    session.add(incident)
    session.flush()
    for c in categories:
        session.add(IncidentCategory(incident_id=incident.id, category_id=c.id))
    alerts = [*(IncidentAlert(incident_id=incident.id, user_id=uid) for uid in alert_user_ids),
              *(IncidentAlert(incident_id=incident.id, group=g) for g in groups)]
    linked_rows = [LinkedPupil(incident_id=incident.id, pupil_id=linked.id, pupil=linked, role=role)
                   for linked, role in links]
    marks = [BodyMapMark(incident_id=incident.id, **_mark(mark)) for mark in data.body_map]
    about_staff = list(dict.fromkeys(data.about_staff_ids))
    exclusions = [IncidentExclusion(incident_id=incident.id, user_id=uid) for uid in about_staff]
    session.add_all([*alerts, *linked_rows, *marks, *exclusions])

    title = chronology_title(data.record_type, categories)
    common = {"school_id": actor.school_id, "entry_type": "incident", "ref_id": incident.id,
              "incident_id": incident.id, "occurred_at": occurred_at, "title": title,
              "category_ids": [c.id for c in categories], "sensitivities": [c.sensitivity for c in categories],
              "excerpt": details.excerpt(account), "recorded_by_name": actor.name}
    add_entry(session, pupil_id=pupil.id, role=None, **common)
    for linked, role in links:
        add_entry(session, pupil_id=linked.id, role=role, **common)

    add_to_outbox(session, OutboxEvent, make_event(
        "incident_recorded", actor.school_id, incident_id=incident.id, pupil_id=pupil.id,
        recorded_by=actor.user_id, category_ids=[c.id for c in categories],
        category_names=[c.name for c in categories], urgent=data.urgent,
        alert_user_ids=alert_user_ids, alert_groups=groups,
        linked_pupil_ids=[linked.id for linked, _ in links],
        excluded_user_ids=excluded_user_ids(session, about_staff, [pupil.id, *(linked.id for linked, _ in links)])))
    session.flush()
    # The answer is built from what was just written, not read back: a refresh cost six statements.
    for name, value in (("pupil", pupil), ("categories", sorted(categories, key=lambda c: c.id)),
                        ("alerts", alerts), ("linked_pupils", linked_rows), ("marks", marks), ("amendments", []),
                        ("exclusions", exclusions), ("actions", []), ("dsl_summary", None)):
        set_committed_value(incident, name, value)
    warnings = name_warnings({"account": account, "childs_words": childs_words, "others_present": others_present},
                             [linked for linked, _ in links])
    # Its recorder reads back what they wrote, even when it names them (they are told so by `may`).
    return schemas.incident(incident, show_original=sees_original(actor), warnings=warnings,
                            may=may(actor, incident), dsl=is_dsl_team(actor))


def excluded_user_ids(session: Session, about_staff: list[int], pupil_ids: list[int]) -> list[int]:
    """Who must never be alerted about a record: the staff it is about, and staff who are a parent or
    carer of one of its pupils (the alerts service leaves them out, whatever group they are in)."""
    relatives = session.scalars(select(StaffRelative.user_id).where(StaffRelative.pupil_id.in_(pupil_ids))).all()
    return sorted({*about_staff, *relatives})


def _load_incident(session: Session, actor: Actor, incident_id: int) -> Incident:
    """The incident, or 404: another school's, and one that names this actor (self-exclusion), do not
    exist for them — the answer is the same as for an id never used."""
    incident = session.get(Incident, incident_id)
    if incident is None or not exists_for(actor, incident):
        raise NotFound("No such incident.")
    return incident


def readable_incident(session: Session, actor: Actor, incident_id, *, whole: bool = False) -> Incident:
    """An incident this actor reads (whole, or as shared with them unless `whole`), with the step-up a
    safeguarding record needs."""
    incident = _load_incident(session, actor, incident_id)
    if not (reads_whole(actor, incident) if whole else can_read_incident(actor, incident)):
        raise Forbidden("You do not have permission to read this incident.")
    require_step_up(actor, incident)
    return incident


def incident_view(actor: Actor, incident: Incident, warnings: list[dict] | None = None) -> dict:
    """The record as this reader sees it: whole (the DSL team with the original beside its corrections),
    or as shared with them."""
    allowed = may(actor, incident)
    if allowed["shared"]:
        return schemas.shared_incident(incident, may=allowed)
    return schemas.incident(incident, show_original=sees_original(actor), warnings=warnings, may=allowed,
                            dsl=is_dsl_team(actor))


def get_incident(session: Session, actor: Actor, incident_id: int) -> dict:
    """The DSL team sees the record as first written beside its corrections; others see it as corrected;
    alerted staff see it as shared with them."""
    return incident_view(actor, readable_incident(session, actor, incident_id))


def body_map_svg(session: Session, actor: Actor, incident_id: int, side: str | None = None) -> str:
    """Not part of the record as shared with alerted staff."""
    incident = readable_incident(session, actor, incident_id, whole=True)
    return bodymap.render_svg([schemas.mark(m) for m in incident.marks], side)


def check_incident_access(session: Session, actor: Actor, incident_id: int, purpose: str) -> dict:
    """For other services (documents): may this actor read (the whole record, with its step-up), or
    attach to, this incident?"""
    incident = _load_incident(session, actor, incident_id)
    if purpose == "read":
        incident = readable_incident(session, actor, incident_id, whole=True)
    elif not can_attach_to_incident(actor, incident):
        raise Forbidden("You do not have permission to do that to this incident.")
    return {"incident_id": incident.id, "pupil_id": incident.pupil_id, "school_id": incident.school_id}


def record(session: Session, actor: Actor, command) -> dict:
    """incidents.record_incident: the new record arrives as `command.incident` (an IncidentIn)."""
    return record_incident(session, actor, command.incident)


def body_map_outline(session: Session) -> dict:
    return bodymap.outline()
