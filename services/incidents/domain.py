"""The incidents service's rules, in plain Python over a SQLAlchemy session (DESIGN rule 1)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import contains_pattern, utcnow
from services.common.events import add_to_outbox, make_event

from . import schemas
from .exceptions import Forbidden, NotFound, ValidationFailed
from .models import Category, Incident, IncidentAlert, IncidentCategory, OutboxEvent, Pupil
from .policy import can_attach_to_incident, can_read_incident

ALERT_GROUPS = ("dsl", "slt")
MAX_CATEGORIES = 3
MAX_ACCOUNT_CHARS = 50_000
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(1990, 1, 1)


def search_pupils(session: Session, actor: Actor, q: str, limit: int = 20) -> list[dict]:
    query = select(Pupil).where(Pupil.school_id == actor.school_id, Pupil.on_roll.is_(True))
    for term in (q or "").split()[:4]:
        like = contains_pattern(term)
        query = query.where(or_(*(column.ilike(like, escape="\\") for column in (
            Pupil.legal_forename, Pupil.legal_surname, Pupil.preferred_forename, Pupil.upn))))
    query = query.order_by(Pupil.legal_surname, Pupil.legal_forename).limit(max(1, min(limit, 100)))
    return [schemas.pupil(p) for p in session.scalars(query)]


def list_categories(session: Session, actor: Actor) -> list[dict]:
    query = (select(Category).where(Category.school_id == actor.school_id, Category.active.is_(True))
             .order_by(Category.name))
    return [schemas.category(c) for c in session.scalars(query)]


def _parse_when(value) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


MAX_ID = 2**31 - 1  # the databases' integer range: larger numbers cannot be ids


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _int_list(value) -> list[int] | None:
    if value is None:
        return []
    if not isinstance(value, list) or not all(_is_id(v) for v in value):
        return None
    return list(dict.fromkeys(value))


def record_incident(session: Session, actor: Actor, data: dict) -> dict:
    """Validate everything first, then write the incident and its event in one transaction."""
    errors: list[dict] = []

    def error(field, message):
        errors.append({"field": field, "message": message})

    pupil = None
    pupil_id = data.get("pupil_id")
    if not _is_id(pupil_id):
        error("pupil_id", "Choose the pupil this concern is about.")
    else:
        pupil = session.get(Pupil, pupil_id)
        if pupil is None or pupil.school_id != actor.school_id:
            error("pupil_id", "That pupil is not on this school's roll. Choose the pupil from the list.")
        elif not pupil.on_roll:
            error("pupil_id", "That pupil has left the roll; ask the DSL to record against their archived file.")

    occurred_at = None
    try:
        occurred_at = _parse_when(data.get("occurred_at"))
    except (ValueError, TypeError, OverflowError):
        error("occurred_at", "Give the date and time it happened, e.g. 2026-03-01T09:30.")
    if occurred_at is not None:
        if occurred_at > utcnow() + CLOCK_SKEW:
            error("occurred_at", "The date and time cannot be in the future.")
        elif occurred_at < EARLIEST:
            error("occurred_at", "That date is too far in the past; check the year.")

    account = data.get("account")
    if not isinstance(account, str) or not account.strip():
        error("account", "Write what you saw, heard or were told.")
    elif len(account) > MAX_ACCOUNT_CHARS:
        error("account", f"The account is longer than {MAX_ACCOUNT_CHARS:,} characters; attach long documents as files.")

    categories: list[Category] = []
    category_ids = _int_list(data.get("category_ids"))
    if category_ids is None:
        error("category_ids", "Categories must be a list of category ids.")
    elif not category_ids:
        error("category_ids", "Choose at least one category.")
    elif len(category_ids) > MAX_CATEGORIES:
        error("category_ids", f"Choose at most {MAX_CATEGORIES} categories.")
    else:
        found = session.scalars(select(Category).where(Category.id.in_(category_ids),
                                                       Category.school_id == actor.school_id,
                                                       Category.active.is_(True))).all()
        if len(found) != len(category_ids):
            error("category_ids", "One of the chosen categories does not exist or is no longer in use.")
        categories = sorted(found, key=lambda c: category_ids.index(c.id))

    alert_user_ids = _int_list(data.get("alert_user_ids"))
    if alert_user_ids is None:
        error("alert_user_ids", "Staff to alert must be a list of staff ids.")
        alert_user_ids = []
    groups = data.get("alert_groups") or []
    if not isinstance(groups, list) or any(g not in ALERT_GROUPS for g in groups):
        error("alert_groups", f"Alert groups must be chosen from: {', '.join(ALERT_GROUPS)}.")
        groups = []

    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        error("urgent", "Urgent must be true or false.")

    if errors:
        raise ValidationFailed(errors)

    # A category's default recipients are always alerted (Safeguarding → the DSL team), so a
    # hurried recorder cannot leave the DSL out of a safeguarding concern.
    groups = list(dict.fromkeys([*groups, *(g for c in categories for g in c.default_alert_groups)]))

    incident = Incident(school_id=actor.school_id, pupil_id=pupil.id, occurred_at=occurred_at,
                        recorded_by=actor.user_id, recorded_by_name=actor.name, account=account.strip(),
                        urgent=urgent)
    session.add(incident)
    session.flush()
    for c in categories:
        session.add(IncidentCategory(incident_id=incident.id, category_id=c.id))
    for uid in alert_user_ids:
        session.add(IncidentAlert(incident_id=incident.id, user_id=uid))
    for g in groups:
        session.add(IncidentAlert(incident_id=incident.id, group=g))
    add_to_outbox(session, OutboxEvent, make_event(
        "incident_recorded", actor.school_id, incident_id=incident.id, pupil_id=pupil.id,
        recorded_by=actor.user_id, category_ids=[c.id for c in categories],
        category_names=[c.name for c in categories], urgent=urgent,
        alert_user_ids=alert_user_ids, alert_groups=groups))
    session.flush()
    session.refresh(incident)
    return schemas.incident(incident)


def _load_incident(session: Session, actor: Actor, incident_id) -> Incident:
    incident = session.get(Incident, incident_id) if _is_id(incident_id) else None
    if incident is None or incident.school_id != actor.school_id:
        raise NotFound("No such incident.")
    return incident


def get_incident(session: Session, actor: Actor, incident_id: int) -> dict:
    incident = _load_incident(session, actor, incident_id)
    if not can_read_incident(actor, incident):
        raise Forbidden("You do not have permission to read this incident.")
    return schemas.incident(incident)


def check_incident_access(session: Session, actor: Actor, incident_id: int, purpose: str) -> dict:
    """For other services (documents): may this actor read, or attach to, this incident?"""
    checks = {"read": can_read_incident, "attach": can_attach_to_incident}
    if purpose not in checks:
        raise ValidationFailed.one("purpose", f"Unknown purpose {purpose!r}; use one of: {', '.join(checks)}.")
    incident = _load_incident(session, actor, incident_id)
    if not checks[purpose](actor, incident):
        raise Forbidden("You do not have permission to do that to this incident.")
    return {"incident_id": incident.id, "pupil_id": incident.pupil_id, "school_id": incident.school_id}
