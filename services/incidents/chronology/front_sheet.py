"""A pupil's front sheet: what a DSL needs on one page before reading the chronology — key details,
plans and flags, agencies involved, household and siblings, open cases, and counts.

The DSL team sees it all. SLT and category readers see it without the safeguarding-only parts (flags,
household, agencies and cases), and their counts cover only the records they may read now (by the
categories' current sensitivities, without restricted records or records that name them); counts of
safeguarding records wait for a recent second factor (`hidden_needing_step_up`). Other staff do not
see front sheets.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import and_, distinct, func, literal, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from ..follow_up.cases import pupil_cases_query
from ..exceptions import Forbidden, NotFound
from ..fields import Errors, day, iso, optional_text, required_text
from ..models import (FLAGS, Action, AgencyInvolvement, ChronologyEntry, HouseholdMember, Pupil, PupilLink)
from ..policy import excluded_from_pupil, excluded_pupil_ids, may_read_front_sheet, require_dsl_team, sees_dsl_only_sections
from .entries import visible_lines

DSL_ONLY_SECTIONS = ("flags", "household", "agencies", "open_cases")


def _pupil(session: Session, actor: Actor, pupil_id: int) -> Pupil:
    """The pupil, or 404: another school's, and one whose parent or carer the actor is."""
    pupil = session.get(Pupil, pupil_id)
    if pupil is None or pupil.school_id != actor.school_id or excluded_from_pupil(actor, pupil):
        raise NotFound("No such pupil on this school's roll.")
    return pupil


def _summary(p: Pupil) -> dict:
    return {"id": p.id, "name": p.name, "year_group": p.year_group, "form": p.form, "on_roll": p.on_roll}


def household_dict(m: HouseholdMember) -> dict:
    return {"id": m.id, "name": m.name, "relationship": m.relationship,
            "parental_responsibility": m.parental_responsibility, "lives_with_pupil": m.lives_with_pupil,
            "contact": m.contact}


def agency_dict(a: AgencyInvolvement, today: date | None = None) -> dict:
    today = today or utcnow().date()
    return {"id": a.id, "agency": a.agency, "contact": a.contact, "started_on": iso(a.started_on),
            "ended_on": iso(a.ended_on), "current": a.ended_on is None or a.ended_on >= today,
            "recorded_at": iso(a.recorded_at)}


def _counts(session: Session, actor: Actor, pupil: Pupil) -> dict:
    """Incidents about the pupil (as subject or linked pupil) and their open actions, counting only
    what this reader may see now (the chronology's rules: `entries.visible_lines`). One statement
    over the pupil's lines (ix_chronology_pupil_when): the database counts, so a file of thousands
    of lines sends three numbers back, not its incident ids.

    Open actions are counted incident by incident (a correlated subquery on ix_actions_incident_id):
    joined instead, the planner misjudges how many incidents the reader's rules leave and may walk
    every school's actions from the oldest incident up."""
    where = [ChronologyEntry.pupil_id == pupil.id, ChronologyEntry.school_id == actor.school_id,
             ChronologyEntry.entry_type == "incident", ChronologyEntry.incident_id.is_not(None)]
    readable, later = visible_lines(session, actor, where, pupil.year_group)
    incidents = func.count(distinct(ChronologyEntry.incident_id))
    read_ids = select(ChronologyEntry.incident_id).where(*where, *readable).distinct().subquery()
    open_per_incident = (select(func.count()).select_from(Action)
                         .where(Action.incident_id == read_ids.c.incident_id, Action.completed_at.is_(None))
                         .scalar_subquery())
    open_actions = select(func.coalesce(func.sum(open_per_incident), 0)).select_from(read_ids).scalar_subquery()
    read, hidden, actions = session.execute(
        select(incidents.filter(and_(*readable)),
               literal(0) if later is None else incidents.filter(later), open_actions).where(*where)).one()
    return {"incidents": read, "open_actions": int(actions), "hidden_needing_step_up": hidden}  # SUM is numeric


def front_sheet(session: Session, actor: Actor, pupil_id) -> dict:
    if not may_read_front_sheet(actor):
        raise Forbidden("Only the DSL team and senior leaders can read a pupil's front sheet.")
    pupil = _pupil(session, actor, pupil_id)
    dsl_only = sees_dsl_only_sections(actor)
    siblings = session.execute(select(Pupil, PupilLink.relationship)
                               .join(PupilLink, PupilLink.related_pupil_id == Pupil.id)
                               .where(PupilLink.pupil_id == pupil.id, Pupil.school_id == actor.school_id,
                                      Pupil.id.not_in(excluded_pupil_ids(actor)))
                               .order_by(Pupil.legal_surname, Pupil.legal_forename, Pupil.id)).all()
    sheet = {
        "pupil": {**_summary(pupil), "upn": pupil.upn, "legal_forename": pupil.legal_forename,
                  "legal_surname": pupil.legal_surname, "preferred_forename": pupil.preferred_forename,
                  "preferred_surname": pupil.preferred_surname, "date_of_birth": iso(pupil.date_of_birth),
                  "sex": pupil.sex, "admission_date": iso(pupil.admission_date),
                  "leaving_date": iso(pupil.leaving_date)},
        "siblings": [{**_summary(p), "relationship": relationship} for p, relationship in siblings
                     if dsl_only or p.on_roll],
        "counts": _counts(session, actor, pupil),
        "withheld": [],
    }
    if dsl_only:
        sheet["pupil"]["staff_relative_ids"] = pupil.staff_relative_ids  # the staff the file is hidden from
        sheet["flags"] = {**{f: bool(getattr(pupil, f)) for f in FLAGS}, "sen_status": pupil.sen_status or "none"}
        household = session.scalars(select(HouseholdMember).where(HouseholdMember.pupil_id == pupil.id)
                                    .order_by(HouseholdMember.id))
        sheet["household"] = [household_dict(m) for m in household]
        today = utcnow().date()
        agencies = session.scalars(select(AgencyInvolvement).where(AgencyInvolvement.pupil_id == pupil.id)
                                   .order_by(AgencyInvolvement.started_on.is_(None), AgencyInvolvement.started_on,
                                             AgencyInvolvement.id))
        sheet["agencies"] = sorted((agency_dict(a, today) for a in agencies), key=lambda a: not a["current"])
        sheet["open_cases"] = [{"id": c.id, "title": c.title, "owner": {"id": c.owner_id, "name": c.owner_name},
                                "opened_at": iso(c.opened_at)} for c in session.scalars(pupil_cases_query(pupil.id))]
    else:
        sheet["withheld"] = list(DSL_ONLY_SECTIONS)  # so a screen can say "DSL team only" rather than "none"
    return sheet


def add_household_member(session: Session, actor: Actor, pupil_id, member) -> dict:
    """`data`: name, relationship (e.g. Mother, Stepfather, Foster carer), parental_responsibility,
    lives_with_pupil, contact."""
    data = member  # the command's fields (`member` below may be the saved row)
    require_dsl_team(actor, "change a pupil's household")
    pupil = _pupil(session, actor, pupil_id)
    error = Errors()
    name = required_text(data.get("name"), "name", error, "Give the person's name.")
    relationship = required_text(data.get("relationship"), "relationship", error,
                                 "Say how they are related to the pupil, e.g. Mother.")
    error.raise_if_any()
    # Not said: no parental responsibility recorded; living with the pupil.
    responsibility = bool(data.get("parental_responsibility"))
    lives_with = data.get("lives_with_pupil") is not False
    contact = optional_text(data.get("contact"))
    member = HouseholdMember(pupil_id=pupil.id, name=name, relationship=relationship,
                             parental_responsibility=responsibility, lives_with_pupil=lives_with, contact=contact)
    session.add(member)
    session.flush()
    return household_dict(member)


def add_agency_involvement(session: Session, actor: Actor, pupil_id, involvement) -> dict:
    """`data`: agency, contact (e.g. the social worker), started_on, ended_on."""
    data = involvement  # the command's fields (`involvement` below may be the saved row)
    require_dsl_team(actor, "record agencies working with a pupil")
    pupil = _pupil(session, actor, pupil_id)
    error = Errors()
    agency = required_text(data.get("agency"), "agency", error, "Name the agency, e.g. Children's social care.")
    contact = optional_text(data.get("contact"))
    started_on = day(data.get("started_on"), "started_on", "the date the agency became involved", error)
    ended_on = day(data.get("ended_on"), "ended_on", "the date the agency's involvement ended", error)
    today = utcnow().date()
    if started_on and started_on > today:
        error("started_on", "The start date cannot be in the future.")
    if started_on and ended_on and ended_on < started_on:
        error("ended_on", "The end date is before the start date. Check the dates.")
    error.raise_if_any()
    involvement = AgencyInvolvement(pupil_id=pupil.id, agency=agency, contact=contact, started_on=started_on,
                                    ended_on=ended_on, recorded_by=actor.user_id, recorded_at=utcnow())
    session.add(involvement)
    session.flush()
    return agency_dict(involvement, today)
