"""The DSL's dashboard, the incidents service's part of it: what waits (incidents no one has acted on,
overdue actions, the tray), what came in this week and this term, and the registers. The alerts
service answers for unread and failed alerts; the gateway puts the two together.

Every list leaves out what does not exist for the reader (a record that names them, a pupil whose
parent or carer they are), in its counts too: a count of allegations is itself information. Each
part is one or two queries, however many records the school holds.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from ..fields import iso
from ..follow_up.actions import action_dict
from ..models import Action, Category, Decision, Incident, IncidentCategory, Outcome, Pupil, TrayItem
from ..policy import hidden_incident_ids, require_dsl_team
from ..schemas import pupil_summary
from ..tray.items import visible_to
from . import calendar
from .registers import registers

UNACTIONED_LIMIT = 200  # the oldest waiting first after the urgent ones; a longer list is not read


def get_dashboard(session: Session, actor: Actor, unactioned_after_days: int = 5,
                  now: datetime | None = None) -> dict:
    """incidents.get_dashboard. `now` (UTC, as the database keeps times) is for the tests' clock."""
    require_dsl_team(actor, "see the DSL's dashboard")
    now = now or utcnow()
    today = calendar.school_today(now)
    week = calendar.week_starts_on(today)
    term_name, term_start = calendar.term(today)
    counts_week, counts_term = category_counts(session, actor, now, calendar.day_starts_at(week),
                                               calendar.day_starts_at(term_start))
    return {"unactioned": unactioned(session, actor, now, unactioned_after_days),
            "overdue_actions": overdue_actions(session, actor, today),
            "tray_waiting": tray_waiting(session, actor),
            "week_starts_on": week.isoformat(), "term": {"name": term_name, "starts_on": term_start.isoformat()},
            "counts_week": counts_week, "counts_term": counts_term,
            "registers": registers(session, actor)}


def unactioned(session: Session, actor: Actor, now: datetime, after_days: int) -> list[dict]:
    """Incidents recorded `after_days` days ago or more with no action, decision or outcome: urgent
    first, then the longest waiting."""
    query = (select(Incident.id, Incident.recorded_at, Incident.urgent, Pupil).join(Pupil, Pupil.id == Incident.pupil_id)
             .where(Incident.school_id == actor.school_id,
                    Incident.recorded_at <= now - timedelta(days=after_days),
                    ~exists().where(Action.incident_id == Incident.id),
                    ~exists().where(Decision.incident_id == Incident.id),
                    ~exists().where(Outcome.incident_id == Incident.id),
                    Incident.id.not_in(hidden_incident_ids(actor)))
             .order_by(Incident.urgent.desc(), Incident.recorded_at, Incident.id).limit(UNACTIONED_LIMIT))
    rows = session.execute(query).all()
    names: dict[int, list[str]] = {}
    if rows:
        for incident_id, name in session.execute(
                select(IncidentCategory.incident_id, Category.name).join(Category, Category.id == IncidentCategory.category_id)
                .where(IncidentCategory.incident_id.in_([r.id for r in rows])).order_by(Category.name)):
            names.setdefault(incident_id, []).append(name)
    return [{"incident_id": r.id, "pupil": pupil_summary(r.Pupil),
             "recorded_at": iso(r.recorded_at), "categories": names.get(r.id, []), "urgent": r.urgent,
             "days_waiting": (now - r.recorded_at).days}
            for r in rows]


def overdue_actions(session: Session, actor: Actor, today) -> list[dict]:
    """Not completed, and due before today (at the school): the soonest due first."""
    query = (select(Action).where(Action.school_id == actor.school_id, Action.completed_at.is_(None),
                                  Action.due_on < today, Action.incident_id.not_in(hidden_incident_ids(actor)))
             .order_by(Action.due_on, Action.id))
    return [action_dict(a) for a in session.scalars(query)]


def tray_waiting(session: Session, actor: Actor) -> int:
    return session.scalar(select(func.count()).select_from(TrayItem).where(
        TrayItem.school_id == actor.school_id, TrayItem.status == "pending", *visible_to(actor)))


def category_counts(session: Session, actor: Actor, now: datetime, week_from: datetime,
                    term_from: datetime) -> tuple[list[dict], list[dict]]:
    """Incidents recorded since each date, per category (an incident counts once in each of its
    categories), most first, then by name: both in one query."""
    in_week = func.count().filter(Incident.recorded_at >= week_from)
    in_term = func.count().filter(Incident.recorded_at >= term_from)
    rows = session.execute(
        select(Category.name, in_week, in_term).select_from(IncidentCategory)
        .join(Incident, Incident.id == IncidentCategory.incident_id)
        .join(Category, Category.id == IncidentCategory.category_id)
        .where(Incident.school_id == actor.school_id, Incident.recorded_at >= min(week_from, term_from),
               Incident.recorded_at <= now, Incident.id.not_in(hidden_incident_ids(actor)))
        .group_by(Category.name)).all()

    def ranked(column: int) -> list[dict]:
        counted = [(row[column], row[0]) for row in rows if row[column]]
        return [{"category": name, "count": n} for n, name in sorted(counted, key=lambda c: (-c[0], c[1]))]
    return ranked(1), ranked(2)
