"""The alerts service's rules, in plain Python over a SQLAlchemy session (DESIGN rule 1).

- `save_staff_member`: keep our copy of the staff directory from gateway events.
- `raise_alerts`: turn `incidents.incident_recorded` into one alert and one queued e-mail per
  recipient, in the same transaction as the processed-event mark, so a redelivery adds nothing.
- `send_pending_mail`: deliver queued e-mail, one commit per message, with back-off on failure.
- `list_alerts`, `mark_alert_read`, `failed_mail`: what the gateway asks on a user's behalf.
"""
from __future__ import annotations

import logging
import textwrap
from datetime import datetime, timedelta, timezone
from email.utils import make_msgid
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.actor import DSL, SLT, Actor
from services.common.db import utcnow
from services.common.events import already_processed

from . import schemas
from .exceptions import DirectoryIncomplete, Forbidden, MalformedEvent, NotFound
from .models import MAIL_FAILED, MAIL_PENDING, MAIL_SENT, Alert, Mail, ProcessedEvent, StaffMember

log = logging.getLogger(__name__)

# An alert group is everyone active in the school who holds the role of the same name.
GROUP_ROLES = {"dsl": DSL, "slt": SLT}

# Seconds to wait after the 1st, 2nd… failed attempt; the last figure repeats.
MAIL_BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600)
MAX_MAIL_ATTEMPTS = 10
# A claimed message is not picked again for this long: comfortably longer than the SMTP timeout,
# so two senders never hold the same message; after a crash mid-send it is retried once it lapses.
SENDING_LEASE = timedelta(minutes=5)
MAX_LIST_LIMIT = 500


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
        school_staff = session.scalars(select(StaffMember).where(
            StaffMember.school_id == school_id, StaffMember.active.is_(True))
            .order_by(StaffMember.user_id)).all()
        for group in dict.fromkeys(groups):
            role = GROUP_ROLES.get(group)
            if role is None:
                raise MalformedEvent(f"unknown alert group {group!r}")
            members = [s for s in school_staff if role in (s.roles or [])]
            if not members:
                raise DirectoryIncomplete(f"alert group {group!r} has no active members in school {school_id}")
            for staff in members:
                recipients.setdefault(staff.user_id, staff)
    return list(recipients.values())


def mail_body(paragraphs: list[str]) -> str:
    """Plain-text body: short lines keep an ASCII message 7-bit, so links survive unencoded."""
    return "\n\n".join(p if "\n" in p else textwrap.fill(p, 72) for p in paragraphs) + "\n"


def queue_mail(session: Session, alert: Alert, staff: StaffMember, subject: str, body: str, public_url: str,
               now) -> None:
    """Queue an alert's e-mail for the sender; the Message-ID is fixed now and reused on every try."""
    session.add(Mail(alert_id=alert.id, to_address=staff.email,
                     message_id=make_msgid(domain=urlsplit(public_url).hostname or "haven.local"),
                     subject=subject, body=body, status=MAIL_PENDING, attempts=0, next_attempt_at=now))


def compose_mail(recipient_name: str, raised_by_name: str, category_names: list[str], urgent: bool,
                 incident_id: int, public_url: str) -> tuple[str, str]:
    """Subject and body of an alert e-mail (DESIGN rule 7).

    Built only from who raised it, the category names, urgency and a link, and never from the
    incident itself: the pupil's name and the account must not leave Haven by e-mail.
    """
    categories = ", ".join(" ".join(name.split()) for name in category_names) or "A"
    subject = f"{'URGENT: ' if urgent else ''}Haven alert: {categories} concern raised"
    if len(subject) > 250:
        subject = subject[:247] + "..."
    link = f"{public_url.rstrip('/')}/incidents/{incident_id}"
    urgency = "URGENT - please read it as soon as you can." if urgent else "Not marked urgent."
    # Short lines keep a plain ASCII message 7-bit, so the link survives unencoded.
    paragraphs = [
        f"{' '.join(recipient_name.split())},",
        f"{' '.join(raised_by_name.split())} has recorded a concern in Haven and you have been "
        "alerted to it.",
        f"Category: {categories}\nUrgency: {urgency}",
        f"Read it in Haven (you will be asked to sign in):\n{link}",
        "This e-mail deliberately says nothing about the pupil or what happened. Please do not "
        "reply with details; record anything you know in Haven.",
    ]
    return subject, mail_body(paragraphs)


def raise_alerts(session: Session, event: dict, public_url: str) -> list[Alert]:
    """One alert and one queued e-mail per recipient; nothing at all for a redelivered event."""
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
    if already_processed(session, ProcessedEvent, event) or not (user_ids or groups):
        return []  # a redelivery, or nobody to alert: nothing to look up
    recorder = session.get(StaffMember, (recorded_by, school_id))
    if recorder is None or recorder.school_id != school_id:
        raise DirectoryIncomplete(f"the recorder {recorded_by} is not in the alerts directory for "
                                  f"school {school_id} yet")
    now = utcnow()
    alerts = []
    for staff in resolve_recipients(session, school_id, user_ids, groups):
        if staff.user_id in excluded:
            # Not logged: "this record names staff member N" is itself safeguarding information.
            continue
        alert = Alert(school_id=school_id, incident_id=incident_id, user_id=staff.user_id,
                      raised_by_user_id=recorder.user_id, raised_by_name=recorder.name,
                      category_names=category_names, urgent=urgent, created_at=now)
        session.add(alert)
        session.flush()
        alerts.append(alert)
        if not staff.email:
            log.warning("staff member %s has no e-mail address; alert %s is in-app only", staff.user_id,
                        alert.id)
            continue
        subject, body = compose_mail(staff.name, recorder.name, category_names, urgent, incident_id,
                                     public_url)
        queue_mail(session, alert, staff, subject, body, public_url, now)
    session.flush()
    return alerts


TRAY_SEVERITIES_ALERTED = ("high", "critical")
MONITORING = "Online-safety monitoring"


def compose_tray_mail(recipient_name: str, severity: str, public_url: str) -> tuple[str, str]:
    """An online-monitoring alert waits in the tray: say so, its severity and where — nothing else."""
    subject = f"URGENT: Haven: a {severity} online-safety alert is waiting in the tray"
    link = f"{public_url.rstrip('/')}/tray"
    paragraphs = [
        f"{' '.join(recipient_name.split())},",
        f"The school's online-safety monitoring has sent Haven an alert of {severity} severity. It is "
        "waiting in the incident tray for the DSL team to record against a pupil or dismiss.",
        f"Open the tray in Haven (you will be asked to sign in):\n{link}",
        "This e-mail deliberately says nothing about the pupil or the alert. Please do not reply "
        "with details.",
    ]
    return subject, mail_body(paragraphs)


def raise_tray_alerts(session: Session, event: dict, public_url: str) -> list[Alert]:
    """High and critical monitoring alerts are e-mailed to the DSL team at once; lower ones wait
    in the tray. Nothing at all for a redelivered event."""
    school_id = _field(event, "school_id", int)
    tray_item_id = _field(event, "tray_item_id", int)
    severity = _field(event, "severity", str)
    if already_processed(session, ProcessedEvent, event) or severity not in TRAY_SEVERITIES_ALERTED:
        return []
    now = utcnow()
    alerts = []
    for staff in resolve_recipients(session, school_id, [], ["dsl"]):
        alert = Alert(school_id=school_id, incident_id=None, tray_item_id=tray_item_id, user_id=staff.user_id,
                      raised_by_user_id=0, raised_by_name=MONITORING, category_names=["Online-monitoring alert"],
                      urgent=True, created_at=now)
        session.add(alert)
        session.flush()
        alerts.append(alert)
        if staff.email:
            subject, body = compose_tray_mail(staff.name, severity, public_url)
            queue_mail(session, alert, staff, subject, body, public_url, now)
    session.flush()
    return alerts


def raise_action_alert(session: Session, event: dict, public_url: str) -> Alert | None:
    """Tell the member of staff an action was assigned to: who assigned it, when it is due, a link."""
    school_id = _field(event, "school_id", int)
    incident_id = _field(event, "incident_id", int)
    assigned_to = _field(event, "assigned_to", int)
    assigned_by = _field(event, "assigned_by", int)
    due_on = _field(event, "due_on", str, optional=True)
    if already_processed(session, ProcessedEvent, event):
        return None
    by = session.get(StaffMember, (assigned_by, school_id))
    if by is None:
        raise DirectoryIncomplete(f"staff member {assigned_by} is not in the alerts directory yet")
    recipients = resolve_recipients(session, school_id, [assigned_to], [])
    if not recipients:
        return None
    staff, now = recipients[0], utcnow()
    alert = Alert(school_id=school_id, incident_id=incident_id, user_id=staff.user_id,
                  raised_by_user_id=by.user_id, raised_by_name=by.name, category_names=["Action assigned"],
                  urgent=False, created_at=now)
    session.add(alert)
    session.flush()
    if staff.email:
        link = f"{public_url.rstrip('/')}/incidents/{incident_id}"
        due = f"It is due on {due_on}." if due_on else "It has no due date."
        body = mail_body([f"{' '.join(staff.name.split())},",
                          f"{' '.join(by.name.split())} has assigned you an action on a record in Haven. {due}",
                          f"See it in Haven (you will be asked to sign in):\n{link}",
                          "This e-mail deliberately says nothing about the pupil or the action."])
        queue_mail(session, alert, staff, "Haven: an action has been assigned to you", body, public_url, now)
    session.flush()
    return alert


# --- sending ----------------------------------------------------------------------------------

def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=MAIL_BACKOFF_SECONDS[min(attempts, len(MAIL_BACKOFF_SECONDS)) - 1])


def _claim_next(session: Session, now: datetime) -> Mail | None:
    """Take the next due message for this sender alone, and commit that before any SMTP traffic.

    PostgreSQL skips rows another sender has locked; the conditional update is what makes the claim
    safe on SQLite too. Committing the claim first keeps no transaction open across the network.
    """
    for _ in range(10):
        query = (select(Mail).where(Mail.status == MAIL_PENDING, Mail.next_attempt_at <= now)
                 .order_by(Mail.next_attempt_at, Mail.id).limit(1))
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        mail = session.scalars(query).first()
        if mail is None:
            session.commit()
            return None
        claimed = session.execute(
            update(Mail).where(Mail.id == mail.id, Mail.status == MAIL_PENDING, Mail.next_attempt_at <= now)
            .values(next_attempt_at=now + SENDING_LEASE)).rowcount
        session.commit()
        if claimed:
            return mail
    return None


def _deliver(session: Session, mailer, mail: Mail, now: datetime) -> bool:
    mail.attempts += 1
    try:
        mailer.send(mail.to_address, mail.subject, mail.body, message_id=mail.message_id)
    except Exception as exc:  # any failure to hand over is a failed attempt, never a lost message
        mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if mail.attempts >= MAX_MAIL_ATTEMPTS:
            mail.status = MAIL_FAILED
            log.warning("alert mail %s failed %d times; giving up (see failed_mail)", mail.id, mail.attempts)
        else:
            mail.next_attempt_at = now + retry_delay(mail.attempts)
            log.info("alert mail %s not sent (%s); attempt %d, retrying later", mail.id, type(exc).__name__,
                     mail.attempts)
        session.commit()
        return False
    mail.status, mail.sent_at, mail.last_error = MAIL_SENT, now, None
    session.commit()  # straight away: a crash after this point never sends it again
    log.info("alert mail %s sent", mail.id)
    return True


def send_pending_mail(session: Session, mailer, now: datetime | None = None, batch: int = 50) -> int:
    """Send due messages, committing each; returns how many were sent."""
    now = now or utcnow()
    sent = 0
    for _ in range(batch):
        mail = _claim_next(session, now)
        if mail is None:
            break
        sent += _deliver(session, mailer, mail, now)
    return sent


# --- queries from the gateway ------------------------------------------------------------------

def list_alerts(session: Session, actor: Actor, unread_only: bool = False, limit: int = 100) -> list[dict]:
    """The caller's own alerts, newest first; nobody sees anyone else's."""
    query = select(Alert).where(Alert.user_id == actor.user_id, Alert.school_id == actor.school_id)
    if unread_only:
        query = query.where(Alert.read_at.is_(None))
    query = query.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(max(1, min(limit, MAX_LIST_LIMIT)))
    return [schemas.alert(a) for a in session.scalars(query)]


def mark_alert_read(session: Session, actor: Actor, alert_id, now: datetime | None = None) -> dict:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.user_id != actor.user_id or alert.school_id != actor.school_id:
        raise NotFound("No such alert.")
    if alert.read_at is None:  # the first read is the receipt; reading again does not move it
        alert.read_at = now or utcnow()
    return schemas.alert(alert)


def failed_mail(session: Session, actor: Actor) -> list[dict]:
    """Alert e-mails that could not be delivered in this school, for the DSL team to follow up."""
    if not actor.is_dsl:
        raise Forbidden("Only the DSL team, signed in with their second factor, can see undelivered alert "
                        "e-mails.")
    query = (select(Mail).join(Alert, Alert.id == Mail.alert_id)
             .where(Alert.school_id == actor.school_id, Mail.status == MAIL_FAILED)
             .order_by(Mail.id.desc()).limit(MAX_LIST_LIMIT))
    return [schemas.failed_mail(m) for m in session.scalars(query)]
