"""What the gateway asks the alerts service on a member of staff's behalf, and who may ask it.

- Anyone: their own alerts (`list_alerts`, `mark_alert_read`) and how they want their e-mail
  (`get_preferences`, `save_preferences`).
- The DSL team and the incident's recorder: who was alerted about an incident and when each opened it
  (`incident_alerts`); nobody the record names (self-exclusion).
- The DSL team: incidents nobody on the team has opened yet (`unopened_incidents`).
- The DSL team and administrators: failed alert e-mails and retrying them; the school's settings.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from . import schemas
from .domain import school_settings
from .exceptions import Forbidden, NotFound
from .mail import retry_failed
from .models import MAIL_FAILED, Alert, Escalation, Mail, Preference, SchoolSettings, StaffMember, WatchedIncident

MAX_LIST_LIMIT = 500
DSL_OR_ADMIN = ("Only the DSL team and the school's Haven administrators, signed in with their second factor, can "
                "do this.")


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


# --- receipts and what waits for the DSL team ---------------------------------------------------

def incident_alerts(session: Session, actor: Actor, incident_id: int) -> dict:
    """Who was alerted about an incident, by what, and when each opened it; its escalations."""
    watched = session.get(WatchedIncident, incident_id)
    known = watched is not None and watched.school_id == actor.school_id
    allowed = known and actor.user_id not in (watched.excluded_user_ids or []) and (
        actor.is_dsl or watched.recorded_by == actor.user_id)
    if not allowed:
        if actor.is_dsl and not known:
            raise NotFound("Haven has no alerts about that incident.")
        raise Forbidden("Only the DSL team and the member of staff who recorded it can see who was alerted.")
    alerts = session.scalars(select(Alert).where(Alert.incident_id == incident_id, Alert.school_id == actor.school_id)
                             .order_by(Alert.created_at, Alert.id)).all()
    names = {s.user_id: s.name for s in session.scalars(select(StaffMember).where(
        StaffMember.school_id == actor.school_id, StaffMember.user_id.in_({a.user_id for a in alerts})))}
    mails = _mail_status(session, alerts)
    escalations = session.scalars(select(Escalation).where(Escalation.incident_id == incident_id)
                                  .order_by(Escalation.level)).all()
    return schemas.incident_alerts(watched, alerts, names, mails, escalations)


def _mail_status(session: Session, alerts: list[Alert]) -> dict[int, str]:
    """Each alert's e-mail as a word: pending, sent, failed, digest (held for one), or none."""
    digest_ids = {a.digest_mail_id for a in alerts if a.digest_mail_id}
    by_alert, by_id = {}, {}
    if alerts:
        for mail in session.scalars(select(Mail).where(Mail.alert_id.in_([a.id for a in alerts])
                                                       | Mail.id.in_(digest_ids))):
            by_id[mail.id] = mail.status
            if mail.alert_id is not None:
                by_alert[mail.alert_id] = mail.status
    return {a.id: ("digest" if a.digest_pending else by_alert.get(a.id) or by_id.get(a.digest_mail_id) or "none")
            for a in alerts}


def unopened_incidents(session: Session, actor: Actor) -> list[dict]:
    """Incidents nobody on the DSL team has opened yet, urgent first, then oldest first."""
    if not actor.is_dsl:
        raise Forbidden("Only the DSL team can see which incidents are waiting to be opened.")
    query = (select(WatchedIncident).where(WatchedIncident.school_id == actor.school_id,
                                           WatchedIncident.opened_at.is_(None),
                                           WatchedIncident.recorded_at.is_not(None))
             .order_by(WatchedIncident.urgent.desc(), WatchedIncident.recorded_at, WatchedIncident.incident_id)
             .limit(MAX_LIST_LIMIT))
    return [schemas.unopened(w) for w in session.scalars(query)
            if actor.user_id not in (w.excluded_user_ids or [])]


# --- failed e-mail ------------------------------------------------------------------------------

def _dsl_or_admin(actor: Actor) -> None:
    if not (actor.is_dsl or (actor.is_admin and actor.second_factor_verified)):
        raise Forbidden(DSL_OR_ADMIN)


def failed_mail(session: Session, actor: Actor) -> list[dict]:
    """Alert e-mails that could not be delivered in this school, for the DSL team and administrators."""
    _dsl_or_admin(actor)
    query = (select(Mail).where(Mail.school_id == actor.school_id, Mail.status == MAIL_FAILED)
             .order_by(Mail.id.desc()).limit(MAX_LIST_LIMIT))
    failed = session.scalars(query).all()
    names = {s.user_id: s.name for s in session.scalars(select(StaffMember).where(
        StaffMember.school_id == actor.school_id, StaffMember.user_id.in_({m.user_id for m in failed if m.user_id})))}
    return [schemas.failed_mail(m, names.get(m.user_id)) for m in failed]


def retry_mail(session: Session, actor: Actor, mail_id: int, now: datetime | None = None) -> dict:
    _dsl_or_admin(actor)
    mail = session.get(Mail, mail_id, with_for_update=True)
    if mail is None or mail.school_id != actor.school_id:
        raise NotFound("No such alert e-mail.")
    if mail.status == MAIL_FAILED:
        retry_failed(session, mail, now or utcnow())
    staff = session.get(StaffMember, (mail.user_id, mail.school_id)) if mail.user_id else None
    return schemas.failed_mail(mail, staff.name if staff else None)


# --- settings -----------------------------------------------------------------------------------

def get_school_settings(session: Session, actor: Actor) -> dict:
    _dsl_or_admin(actor)
    return schemas.school_settings(school_settings(session, actor.school_id))


def save_school_settings(session: Session, actor: Actor, settings) -> dict:
    _dsl_or_admin(actor)
    row = session.get(SchoolSettings, actor.school_id, with_for_update=True)
    if row is None:
        row = school_settings(session, actor.school_id)
        session.add(row)
    for name, value in settings.items():  # the adapter hands nested models over as plain dicts
        setattr(row, name, value)
    session.flush()
    return schemas.school_settings(row)


def get_preferences(session: Session, actor: Actor) -> dict:
    preference = session.get(Preference, (actor.user_id, actor.school_id))
    return {"digest": bool(preference and preference.digest),
            "digest_time": school_settings(session, actor.school_id).digest_time}


def save_preferences(session: Session, actor: Actor, preferences) -> dict:
    preference = session.get(Preference, (actor.user_id, actor.school_id), with_for_update=True)
    if preference is None:
        preference = Preference(user_id=actor.user_id, school_id=actor.school_id)
        session.add(preference)
    preference.digest = preferences["digest"]
    session.flush()
    return get_preferences(session, actor)
