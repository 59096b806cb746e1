"""The alerts service's event handlers, in plain Python over a SQLAlchemy session (DESIGN rule 1).

Each turns one event into alerts and queued e-mail (mail.py) in the same transaction as the
processed-event mark, so a redelivery adds nothing:
- `save_staff_member`: keep our copy of the staff directory from gateway events.
- `raise_alerts`: `incidents.incident_recorded` → an alert per recipient, and the incident watched for
  escalation when it is urgent (schedule.py escalates it).
- `raise_tray_alerts`, `raise_action_alert`, `note_action_completed`, `raise_amendment_alert`: the tray,
  actions (and their due-date reminders), amendments to a record someone else made.
- `note_incident_opened`: `gateway.incident_opened` → read receipts; the DSL team opening an urgent
  incident stops its escalation.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.actor import DSL, SLT
from services.common.contracts.alerts import SchoolAlertSettingsIn
from services.common.db import utcnow
from services.common.events import already_processed
from services.common.smtp import mail_text

from . import mail
from .exceptions import DirectoryIncomplete, MalformedEvent
from .models import Alert, Preference, ProcessedEvent, Reminder, SchoolSettings, StaffMember, WatchedIncident

log = logging.getLogger(__name__)

# How far ahead of this process's clock an event's time may be (the publishers' clocks drift a little).
CLOCK_SKEW = timedelta(minutes=5)
# An alert group is everyone active in the school who holds the role of the same name.
GROUP_ROLES = {"dsl": DSL, "slt": SLT}


# --- events -----------------------------------------------------------------------------------

def _field(event: dict, name: str, kind, optional: bool = False):
    value = event.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedEvent(f"{event.get('event_type', 'event')} {event.get('event_id')}: bad {name!r}")
    return value


def _list_of(event: dict, name: str, kind) -> list:
    values = event.get(name) or []
    if not isinstance(values, list) or not all(isinstance(v, kind) and not isinstance(v, bool)
                                               for v in values):
        raise MalformedEvent(f"{event.get('event_type', 'event')} {event.get('event_id')}: bad {name!r}")
    return values


def _occurred_at(event: dict) -> datetime:
    try:
        when = datetime.fromisoformat(_field(event, "occurred_at", str).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"event {event.get('event_id')}: bad 'occurred_at'") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    if when > utcnow() + CLOCK_SKEW:
        # A staff event "from the future" would win over every genuine update after it (issue 9's forged
        # staff_member_saved): refused, and parked for an operator to see.
        raise MalformedEvent(f"event {event.get('event_id')}: 'occurred_at' is in the future")
    return when


def save_staff_member(session: Session, event: dict) -> bool:
    """Upsert one staff member at the event's school; False when the event is a redelivery or older than
    what we hold."""
    user_id, school_id = _field(event, "user_id", int), _field(event, "school_id", int)
    fields = {"name": _field(event, "name", str),
              "email": _field(event, "email", str, optional=True) or None,
              "roles": _list_of(event, "roles", str), "active": _field(event, "active", bool),
              "occurred_at": _occurred_at(event)}
    if already_processed(session, ProcessedEvent, event):
        return False
    staff = session.get(StaffMember, (user_id, school_id))
    if staff is None:
        session.add(StaffMember(user_id=user_id, school_id=school_id, **fields))
        return True
    if fields["occurred_at"] < staff.occurred_at:
        return False  # arrived out of order: the newer save we already hold wins
    for name, value in fields.items():
        setattr(staff, name, value)
    return True


def active_staff(session: Session, school_id: int) -> list[StaffMember]:
    return session.scalars(select(StaffMember).where(StaffMember.school_id == school_id,
                                                     StaffMember.active.is_(True)).order_by(StaffMember.user_id)).all()


def holding(staff: list[StaffMember], roles) -> list[StaffMember]:
    """Those of `staff` who hold any of `roles` at their school."""
    return [s for s in staff if any(role in (s.roles or []) for role in roles)]


def resolve_recipients(session: Session, school_id: int, user_ids: list[int],
                       groups: list[str]) -> list[StaffMember]:
    """Named staff and every member of each group: active, in this school, each once.

    Raises DirectoryIncomplete when a named person is unknown or a group has no one in it yet, so
    the event is retried once the staff events have caught up, rather than the alert going nowhere.
    """
    recipients: dict[int, StaffMember] = {}
    user_ids = list(dict.fromkeys(user_ids))
    named = {s.user_id: s for s in session.scalars(select(StaffMember).where(
        StaffMember.user_id.in_(user_ids), StaffMember.school_id == school_id))} \
        if user_ids else {}  # one query for everyone named, as they are at this school
    elsewhere = set(session.scalars(select(StaffMember.user_id).where(
        StaffMember.user_id.in_(set(user_ids) - set(named))))) if set(user_ids) - set(named) else set()
    for user_id in user_ids:
        staff = named.get(user_id)
        if staff is None and user_id not in elsewhere:
            raise DirectoryIncomplete(f"staff member {user_id} is not in the alerts directory yet")
        if staff is None or not staff.active:  # known only at another school: never alerted here
            log.warning("not alerting staff member %s: not active in school %s", user_id, school_id)
            continue
        recipients[staff.user_id] = staff
    if groups:
        school_staff = active_staff(session, school_id)
        for group in dict.fromkeys(groups):
            role = GROUP_ROLES.get(group)
            if role is None:
                raise MalformedEvent(f"unknown alert group {group!r}")
            members = holding(school_staff, (role,))
            if not members:
                raise DirectoryIncomplete(f"alert group {group!r} has no active members in school {school_id}")
            for staff in members:
                recipients.setdefault(staff.user_id, staff)
    return list(recipients.values())


def school_settings(session: Session, school_id: int) -> SchoolSettings:
    """The school's alerting settings: its saved row, or the contract's defaults (not saved) until it has one."""
    return session.get(SchoolSettings, school_id) or SchoolSettings(school_id=school_id,
                                                                    **SchoolAlertSettingsIn().model_dump())


def digest_wanted(session: Session, school_id: int, user_ids) -> set[int]:
    """Which of these people chose the daily digest at this school (one query for them all)."""
    user_ids = set(user_ids)
    return set(session.scalars(select(Preference.user_id).where(
        Preference.school_id == school_id, Preference.user_id.in_(user_ids), Preference.digest.is_(True)))) \
        if user_ids else set()


def alert(session: Session, staff: StaffMember, *, kind: str, lines: list[str], link: str, public_url: str,
          now: datetime, urgent: bool = False, incident_id: int | None = None, raised_by: tuple[int, str] = (0, ""),
          category_names: list[str] = (), digest: bool | None = None, **fields) -> Alert:
    """One alert for one member of staff, and its e-mail: now when urgent or wanted at once, else held
    for their daily digest (`digest`: whether they chose it, when the caller has looked already).
    Nothing is flushed here: the caller's flush writes a whole batch of alerts and their mail at once."""
    new = Alert(school_id=staff.school_id, incident_id=incident_id, user_id=staff.user_id, kind=kind,
                raised_by_user_id=raised_by[0], raised_by_name=raised_by[1], category_names=list(category_names),
                urgent=urgent, created_at=now, **fields)
    session.add(new)
    if not urgent and (digest if digest is not None else staff.user_id in digest_wanted(
            session, staff.school_id, [staff.user_id])):
        new.digest_pending = True
    else:
        mail.queue_mail(session, staff, mail.compose(staff.name, lines, link, urgent=urgent), public_url, now, new)
    return new


def _watch(session: Session, incident_id: int, school_id: int) -> WatchedIncident:
    watched = session.get(WatchedIncident, incident_id, with_for_update=True)
    if watched is None:
        watched = WatchedIncident(incident_id=incident_id, school_id=school_id, urgent=False, category_names=[],
                                  excluded_user_ids=[], escalation_level=0)
        session.add(watched)
    return watched


def raise_alerts(session: Session, event: dict, public_url: str) -> list[Alert]:
    """One alert and one queued e-mail per recipient; an urgent incident is watched for escalation.
    Nothing at all for a redelivered event."""
    school_id = _field(event, "school_id", int)
    incident_id = _field(event, "incident_id", int)
    recorded_by = _field(event, "recorded_by", int)
    category_names = _list_of(event, "category_names", str)
    urgent = bool(_field(event, "urgent", bool, optional=True))
    user_ids = _list_of(event, "alert_user_ids", int)
    groups = _list_of(event, "alert_groups", str)
    # Staff the record names (the adult it is about, a parent or carer of its pupil) are never alerted,
    # whether named or in a group (self-exclusion).
    excluded = set(_list_of(event, "excluded_user_ids", int))
    recorded_at = _occurred_at(event)
    if already_processed(session, ProcessedEvent, event):
        return []
    recorder = session.get(StaffMember, (recorded_by, school_id))
    if recorder is None and (user_ids or groups):
        raise DirectoryIncomplete(f"the recorder {recorded_by} is not in the alerts directory for "
                                  f"school {school_id} yet")
    settings = school_settings(session, school_id)
    watched = _watch(session, incident_id, school_id)
    watched.urgent, watched.recorded_by = urgent, recorded_by
    watched.recorded_by_name = recorder.name if recorder else None
    watched.category_names, watched.recorded_at, watched.excluded_user_ids = category_names, recorded_at, sorted(excluded)
    if urgent and watched.opened_at is None:
        watched.next_escalation_at = recorded_at + timedelta(minutes=settings.escalate_after_minutes)
    if not (user_ids or groups):
        return []
    now = utcnow()
    lines = [f"{mail_text(recorder.name) or 'A member of staff'} has recorded a concern in Haven and you have "
             "been alerted to it.", *mail.category_line(category_names, settings.category_in_email)]
    link = mail.link_to(public_url, f"/incidents/{incident_id}")
    # Not logged when skipped: "this record names staff member N" is itself safeguarding information.
    recipients = [s for s in resolve_recipients(session, school_id, user_ids, groups) if s.user_id not in excluded]
    digest = digest_wanted(session, school_id, [s.user_id for s in recipients]) if not urgent else set()
    raised = [alert(session, staff, kind="alert", lines=lines, link=link, public_url=public_url, now=now,
                    urgent=urgent, incident_id=incident_id, raised_by=(recorder.user_id, recorder.name),
                    category_names=category_names, digest=staff.user_id in digest)
              for staff in recipients]
    session.flush()
    return raised


TRAY_SEVERITIES_ALERTED = ("high", "critical")
MONITORING = "Online-safety monitoring"


def raise_tray_alerts(session: Session, event: dict, public_url: str) -> list[Alert]:
    """High and critical monitoring alerts are e-mailed to the DSL team at once; lower ones wait
    in the tray. Nothing at all for a redelivered event."""
    school_id = _field(event, "school_id", int)
    tray_item_id = _field(event, "tray_item_id", int)
    severity = _field(event, "severity", str)
    if already_processed(session, ProcessedEvent, event) or severity not in TRAY_SEVERITIES_ALERTED:
        return []
    now = utcnow()
    lines = [f"The school's online-safety monitoring has sent Haven an alert of {mail_text(severity, 20)} "
             "severity. It is waiting in the incident tray for the DSL team to record against a pupil or dismiss."]
    raised = [alert(session, staff, kind="tray", lines=lines, link=mail.link_to(public_url, "/tray"),
                    public_url=public_url, now=now, urgent=True, raised_by=(0, MONITORING),
                    category_names=["Online-monitoring alert"], tray_item_id=tray_item_id)
              for staff in resolve_recipients(session, school_id, [], ["dsl"])]
    session.flush()
    return raised


def _day(event: dict, name: str) -> date | None:
    value = _field(event, name, str, optional=True)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise MalformedEvent(f"event {event.get('event_id')}: bad {name!r}") from None


def raise_action_alert(session: Session, event: dict, public_url: str) -> Alert | None:
    """Tell the member of staff an action was assigned to: who assigned it, when it is due, a link; and
    remember its due date for the reminders (schedule.py)."""
    school_id = _field(event, "school_id", int)
    incident_id = _field(event, "incident_id", int)
    action_id = _field(event, "action_id", int)
    assigned_to = _field(event, "assigned_to", int)
    assigned_by = _field(event, "assigned_by", int)
    due_on = _day(event, "due_on")
    if already_processed(session, ProcessedEvent, event):
        return None
    by = session.get(StaffMember, (assigned_by, school_id))
    if by is None:
        raise DirectoryIncomplete(f"staff member {assigned_by} is not in the alerts directory yet")
    recipients = resolve_recipients(session, school_id, [assigned_to], [])
    if not recipients:
        return None
    staff = recipients[0]
    if due_on is not None and session.get(Reminder, action_id) is None:
        session.add(Reminder(action_id=action_id, school_id=school_id, incident_id=incident_id,
                             user_id=staff.user_id, due_on=due_on))
    due = f"It is due on {due_on:%A %-d %B %Y}." if due_on else "It has no due date."
    return alert(session, staff, kind="action", lines=[f"{mail_text(by.name) or 'A member of staff'} has assigned "
                                                        f"you an action on a record in Haven. {due}"],
                 link=mail.link_to(public_url, f"/incidents/{incident_id}"), public_url=public_url, now=utcnow(),
                 incident_id=incident_id, raised_by=(by.user_id, by.name), category_names=["Action assigned"],
                 action_id=action_id)


def note_action_completed(session: Session, event: dict) -> bool:
    """An action was done: no more reminders about it."""
    action_id = _field(event, "action_id", int)
    if already_processed(session, ProcessedEvent, event):
        return False
    reminder = session.get(Reminder, action_id)
    if reminder is not None and reminder.completed_at is None:
        reminder.completed_at = _occurred_at(event)
    return False  # nothing to send


def raise_amendment_alert(session: Session, event: dict, public_url: str) -> Alert | None:
    """Someone amended a record another member of staff recorded: the recorder hears of it."""
    school_id = _field(event, "school_id", int)
    incident_id = _field(event, "incident_id", int)
    amended_by = _field(event, "amended_by", int)
    recorded_by = _field(event, "recorded_by", int, optional=True)
    if already_processed(session, ProcessedEvent, event) or recorded_by in (None, amended_by):
        return None
    by = session.get(StaffMember, (amended_by, school_id))
    if by is None:
        raise DirectoryIncomplete(f"staff member {amended_by} is not in the alerts directory yet")
    recipients = resolve_recipients(session, school_id, [recorded_by], [])
    if not recipients:
        return None
    return alert(session, recipients[0], kind="amendment",
                 lines=[f"{mail_text(by.name) or 'A member of staff'} has amended a record you made in Haven. "
                        "The original stays as you wrote it; the amendment says who changed what, when and why."],
                 link=mail.link_to(public_url, f"/incidents/{incident_id}"), public_url=public_url, now=utcnow(),
                 incident_id=incident_id, raised_by=(by.user_id, by.name), category_names=["Record amended"])


def note_incident_opened(session: Session, event: dict) -> bool:
    """Someone opened an incident: their alerts about it are read (the receipt is when); the first of
    the DSL team to open it stops its escalation."""
    school_id = _field(event, "school_id", int)
    incident_id = _field(event, "incident_id", int)
    user_id = _field(event, "user_id", int)
    opened_at = _occurred_at(event)
    if already_processed(session, ProcessedEvent, event):
        return False
    session.execute(update(Alert).where(Alert.incident_id == incident_id, Alert.user_id == user_id,
                                        Alert.school_id == school_id, Alert.read_at.is_(None))
                    .values(read_at=opened_at))
    staff = session.get(StaffMember, (user_id, school_id))
    if staff is None or DSL not in (staff.roles or []):
        return False
    watched = _watch(session, incident_id, school_id)
    if watched.opened_at is None or opened_at < watched.opened_at:
        watched.opened_at, watched.opened_by, watched.opened_by_name = opened_at, staff.user_id, staff.name
        watched.next_escalation_at = None
    return False


