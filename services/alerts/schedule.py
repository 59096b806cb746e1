"""What the alerts service does by the clock (its timers call these with the time; tests pass their own).

- `escalate_due`: an urgent incident nobody on the DSL team has opened within the school's
  `escalate_after_minutes` is escalated: first to the whole DSL team (the deputies included), then to
  SLT, then to both again each interval, up to `MAX_ESCALATIONS` times; each step is recorded.
- `send_reminders`: an action with a due date reminds its owner the day before, and once when overdue.
- `send_digests`: once a day at the school's digest time, each person who chose the daily digest gets
  one e-mail for the non-urgent alerts held for them.

Days and times of day are the school's (services/common/clock.py). Each function commits per item, so a crash
part-way loses nothing and repeats nothing.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common import metrics
from services.common.actor import DSL, SLT
from services.common.clock import school_time, school_today, stored
from services.common.db import skip_locked

from . import mail
from .domain import active_staff, alert, holding, school_settings
from .models import Alert, Escalation, Reminder, SchoolSettings, StaffMember, WatchedIncident

log = logging.getLogger(__name__)

# Escalation steps: who each goes to. After the last, the last repeats.
LADDER = (("dsl_team", (DSL,)), ("slt", (SLT,)), ("dsl_team_and_slt", (DSL, SLT)))
# An incident nobody opens is escalated at most this many times (15 minutes apart by default: three
# hours), and stays at the top of the DSL's dashboard after that.
MAX_ESCALATIONS = 12
LADDER_WORDS = {"dsl_team": "a member of the DSL team", "slt": "a member of the senior leadership team",
                "dsl_team_and_slt": "a member of the DSL team or the senior leadership team"}


def escalate_due(session: Session, now: datetime, public_url: str, batch: int = 50) -> int:
    """Escalate each urgent, unopened incident whose time has come; returns how many were escalated."""
    escalated = 0
    for _ in range(batch):
        watched = session.scalars(skip_locked(
            select(WatchedIncident).where(WatchedIncident.next_escalation_at <= now,
                                          WatchedIncident.opened_at.is_(None))
            .order_by(WatchedIncident.next_escalation_at).limit(1), session)).first()
        if watched is None:
            break
        to_group = _escalate(session, watched, now, public_url)
        session.commit()
        metrics.ESCALATIONS.labels(to_group).inc()
        escalated += 1
    session.commit()
    return escalated


def _escalate(session: Session, watched: WatchedIncident, now: datetime, public_url: str) -> str:
    """One step of the ladder; returns whom it went to (a LADDER group)."""
    settings = school_settings(session, watched.school_id)
    level = watched.escalation_level + 1
    to_group, roles = LADDER[min(level, len(LADDER)) - 1]
    excluded = set(watched.excluded_user_ids or [])
    staff = [s for s in holding(active_staff(session, watched.school_id), roles) if s.user_id not in excluded]
    minutes = int((now - (watched.recorded_at or now)).total_seconds() // 60)
    lines = [f"An urgent concern recorded in Haven {minutes} minute{'s' if minutes != 1 else ''} ago has not yet "
             f"been opened by anyone on the DSL team. You are alerted as {LADDER_WORDS[to_group]} "
             f"(escalation {level}).",
             *mail.category_line(watched.category_names, settings.category_in_email)]
    link = mail.link_to(public_url, f"/incidents/{watched.incident_id}")
    for member in staff:
        alert(session, member, kind="escalation", lines=lines, link=link, public_url=public_url, now=now, urgent=True,
              incident_id=watched.incident_id, raised_by=(watched.recorded_by or 0, watched.recorded_by_name or ""),
              category_names=watched.category_names, escalation_level=level)
    session.add(Escalation(incident_id=watched.incident_id, level=level, to_group=to_group, at=now,
                           recipients=len(staff)))
    watched.escalation_level = level
    watched.next_escalation_at = (now + timedelta(minutes=settings.escalate_after_minutes)
                                  if level < MAX_ESCALATIONS else None)
    log.info("incident %s escalated (level %d, %d recipients)", watched.incident_id, level, len(staff))
    return to_group


def _digest_moment(now: datetime, settings: SchoolSettings) -> datetime:
    """The latest time the school's digest time of day has passed, as stored (today's or yesterday's)."""
    hours, minutes = (int(part) for part in settings.digest_time.split(":"))
    local = school_time(now)
    moment = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if moment > local:
        moment = (local - timedelta(days=1)).replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return stored(moment)


def send_reminders(session: Session, now: datetime, public_url: str, batch: int = 200) -> int:
    """Remind owners of actions due tomorrow, and of overdue ones, once each; from the school's digest
    time of day (a morning hour) so nobody is woken by one. Returns how many reminders were raised."""
    today = school_today(now)
    tomorrow = today + timedelta(days=1)
    due = session.scalars(skip_locked(
        select(Reminder).where(Reminder.completed_at.is_(None),
                               ((Reminder.due_on == tomorrow) & Reminder.before_sent_at.is_(None))
                               | ((Reminder.due_on < today) & Reminder.overdue_sent_at.is_(None)))
        .order_by(Reminder.due_on, Reminder.action_id).limit(batch), session)).all()
    raised, morning_come = 0, {}
    for reminder in due:
        if reminder.school_id not in morning_come:  # has the school's digest time come today?
            moment = _digest_moment(now, school_settings(session, reminder.school_id))
            morning_come[reminder.school_id] = school_today(moment) == today
        if not morning_come[reminder.school_id]:
            continue
        overdue = reminder.due_on < today
        # Claimed by a conditional update, so two instances never both send it (the rows' locks end
        # with the first commit below).
        column = Reminder.overdue_sent_at if overdue else Reminder.before_sent_at
        claimed = session.execute(update(Reminder).where(Reminder.action_id == reminder.action_id, column.is_(None))
                                  .values({column.key: now})).rowcount
        if not claimed:
            continue
        when = f"{reminder.due_on:%A %-d %B %Y}"
        text = (f"An action assigned to you in Haven is overdue: it was due on {when}." if overdue
                else f"An action assigned to you in Haven is due tomorrow, {when}.")
        staff = session.get(StaffMember, (reminder.user_id, reminder.school_id))
        if staff is not None and staff.active:
            alert(session, staff, kind="reminder", lines=[text],
                  link=mail.link_to(public_url, f"/incidents/{reminder.incident_id}"), public_url=public_url,
                  now=now, incident_id=reminder.incident_id, category_names=["Action reminder"],
                  action_id=reminder.action_id)
            raised += 1
        session.commit()
    session.commit()
    return raised


def send_digests(session: Session, now: datetime, public_url: str) -> int:
    """Each person who chose the daily digest gets one e-mail for the alerts held for them before their
    school's latest digest time (alerts after it wait for the next day's). Returns how many were queued."""
    queued = 0
    schools = session.scalars(select(Alert.school_id).where(Alert.digest_pending.is_(True)).distinct()).all()
    for school_id in schools:
        moment = _digest_moment(now, school_settings(session, school_id))
        held = defaultdict(list)
        for held_alert in session.scalars(skip_locked(
                select(Alert).where(Alert.school_id == school_id, Alert.digest_pending.is_(True),
                                    Alert.created_at <= moment).order_by(Alert.id), session)):
            held[held_alert.user_id].append(held_alert)
        for user_id, alerts in held.items():
            staff = session.get(StaffMember, (user_id, school_id))
            if staff is None:
                for held_alert in alerts:
                    held_alert.digest_pending = False
            elif mail.queue_digest(session, staff, alerts, public_url, now) is not None:
                queued += 1
        session.commit()
    return queued
