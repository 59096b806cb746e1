"""The incident tray: alerts posted by online-safety monitoring systems, waiting for the DSL.

A monitoring system (an "integration", authenticated by its API key at the gateway) posts an alert;
it lands here, matched to a pupil by UPN when it can be. The DSL team then attaches each alert to a
pupil as an incident, or dismisses it with a reason. An alert is handled once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow
from services.common.errors import Conflict
from services.common.events import add_to_outbox, make_event

from ..record.incidents import record_incident
from ..exceptions import Forbidden, NotFound, ValidationFailed
from ..fields import CLOCK_SKEW, EARLIEST, is_id, parse_iso_utc
from ..models import SEVERITIES, TRAY_STATUSES, Incident, OutboxEvent, Pupil, TrayItem
from ..policy import may_post_to_tray, require_dsl_team

MAX_EXTERNAL_ID_CHARS = 120
MAX_IDENTIFIER_CHARS = 120
MAX_SUMMARY_CHARS = 5_000
MAX_NOTE_CHARS = 10_000
MAX_REASON_CHARS = 2_000
MIN_REASON_CHARS = 5
TRAY_TEAM_ONLY = "see and handle the incident tray"






def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def item(t: TrayItem, pupil: Pupil | None) -> dict:
    """A tray item as the DSL sees it."""
    return {
        "id": t.id,
        "status": t.status,
        "matched": t.matched_pupil_id is not None,
        "pupil": None if pupil is None else {"id": pupil.id, "name": pupil.name, "upn": pupil.upn,
                                             "year_group": pupil.year_group, "form": pupil.form,
                                             "on_roll": pupil.on_roll},
        "pupil_identifier": t.pupil_identifier,
        "severity": t.severity,
        "summary": t.summary,
        "occurred_at": _iso(t.occurred_at),
        "received_at": _iso(t.received_at),
        "integration": {"id": t.integration_id, "name": t.integration_name},
        "external_id": t.external_id,
        "incident_id": t.incident_id,
        "dismissed_reason": t.dismissed_reason,
        "handled_by": None if t.handled_at is None else {"id": t.handled_by, "name": t.handled_by_name},
        "handled_at": _iso(t.handled_at),
    }


def receipt(t: TrayItem) -> dict:
    """What the monitoring system is told: never the pupil's name."""
    return {"id": t.id, "status": t.status, "matched": t.matched_pupil_id is not None}


def _text(data: dict, field: str, errors: list, *, required_message: str, max_chars: int,
          too_long_message: str) -> str | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.append({"field": field, "message": required_message})
        return None
    if not isinstance(value, str):
        errors.append({"field": field, "message": f"{field} must be text."})
        return None
    value = value.strip()
    if len(value) > max_chars:
        errors.append({"field": field, "message": too_long_message})
        return None
    return value


def match_pupil(session: Session, school_id: int, identifier: str) -> Pupil | None:
    """The on-roll pupil whose UPN this is (case and spaces ignored), or None."""
    upn = identifier.replace(" ", "").upper()
    return session.scalar(select(Pupil).where(Pupil.school_id == school_id, Pupil.on_roll.is_(True),
                                              func.upper(Pupil.upn) == upn))


def receive_alert(session: Session, actor: Actor, alert) -> tuple[dict, bool]:
    """Land an alert in the tray: (receipt, True) when new; the same item and False when this
    integration has already posted this external_id (monitoring systems retry)."""
    data = alert  # the command's fields (`alert` below may be the saved row)
    if not may_post_to_tray(actor):
        raise Forbidden("Only a monitoring system's API key may post alerts to the tray.")
    if not isinstance(data, dict):
        raise ValidationFailed.one("body", "Send the alert as a JSON object.")
    errors: list[dict] = []
    external_id = _text(data, "external_id", errors, max_chars=MAX_EXTERNAL_ID_CHARS,
                        required_message="Give the monitoring system's own id for this alert.",
                        too_long_message=f"external_id is longer than {MAX_EXTERNAL_ID_CHARS} characters.")
    identifier = _text(data, "pupil_identifier", errors, max_chars=MAX_IDENTIFIER_CHARS,
                       required_message="Give the pupil's UPN.",
                       too_long_message=f"pupil_identifier is longer than {MAX_IDENTIFIER_CHARS} characters.")
    severity = data.get("severity")
    if severity not in SEVERITIES:
        errors.append({"field": "severity", "message": f"Severity must be one of: {', '.join(SEVERITIES)}."})
    summary = _text(data, "summary", errors, max_chars=MAX_SUMMARY_CHARS,
                    required_message="Give a summary of what was detected.",
                    too_long_message=f"The summary is longer than {MAX_SUMMARY_CHARS:,} characters.")
    occurred_at = None
    try:
        occurred_at = parse_iso_utc(data.get("occurred_at"))
    except (ValueError, TypeError, OverflowError):
        errors.append({"field": "occurred_at", "message": "Give the date and time of the alert in ISO 8601, "
                                                          "e.g. 2026-03-01T09:30:00Z."})
    if occurred_at is not None:
        if occurred_at > utcnow() + CLOCK_SKEW:
            errors.append({"field": "occurred_at", "message": "The date and time cannot be in the future."})
        elif occurred_at < EARLIEST:
            errors.append({"field": "occurred_at", "message": "That date is too far in the past; check the year."})
    if errors:
        raise ValidationFailed(errors)

    existing = _posted(session, actor, external_id)
    if existing is not None:
        return receipt(existing), False
    pupil = match_pupil(session, actor.school_id, identifier)
    tray_item = TrayItem(school_id=actor.school_id, integration_id=actor.user_id, integration_name=actor.name,
                         external_id=external_id, pupil_identifier=identifier,
                         matched_pupil_id=pupil.id if pupil else None, severity=severity, summary=summary,
                         occurred_at=occurred_at, status="pending")
    try:
        with session.begin_nested():  # a concurrent post of the same alert wins; we return its item
            session.add(tray_item)
            session.flush()
    except IntegrityError:
        existing = _posted(session, actor, external_id)
        if existing is None:
            raise
        return receipt(existing), False
    add_to_outbox(session, OutboxEvent, make_event(
        "tray_item_received", actor.school_id, tray_item_id=tray_item.id, severity=severity,
        integration_id=actor.user_id, matched=pupil is not None))
    return receipt(tray_item), True


def _posted(session: Session, actor: Actor, external_id: str) -> TrayItem | None:
    return session.scalar(select(TrayItem).where(TrayItem.school_id == actor.school_id,
                                                 TrayItem.integration_id == actor.user_id,
                                                 TrayItem.external_id == external_id))


def list_tray(session: Session, actor: Actor, status: str | None = "pending", limit: int = 200) -> list[dict]:
    """The tray, newest first. `status` None or "all" lists every item."""
    require_dsl_team(actor, TRAY_TEAM_ONLY)
    query = select(TrayItem, Pupil).outerjoin(Pupil, Pupil.id == TrayItem.matched_pupil_id).where(
        TrayItem.school_id == actor.school_id)
    if status not in (None, "all"):
        if status not in TRAY_STATUSES:
            raise ValidationFailed.one("status", f"Status must be one of: {', '.join(TRAY_STATUSES)}, all.")
        query = query.where(TrayItem.status == status)
    query = query.order_by(TrayItem.received_at.desc(), TrayItem.id.desc()).limit(max(1, min(limit, 500)))
    return [item(t, p) for t, p in session.execute(query)]


def _load_for_handling(session: Session, actor: Actor, item_id) -> TrayItem:
    """The pending item, locked until the transaction ends so two DSLs cannot both handle it."""
    require_dsl_team(actor, TRAY_TEAM_ONLY)
    query = select(TrayItem).where(TrayItem.id == item_id) if is_id(item_id) else None
    if query is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    tray_item = session.scalar(query) if query is not None else None
    if tray_item is None or tray_item.school_id != actor.school_id:
        raise NotFound("No such alert in the tray.")
    if tray_item.status != "pending":
        raise Conflict(f"This alert has already been {tray_item.status} by {tray_item.handled_by_name}.")
    return tray_item


def incident_account(tray_item: TrayItem, note: str | None, author: str) -> str:
    """A factual account built from the alert, with the DSL's note if given."""
    text = (f"Online-monitoring alert from {tray_item.integration_name}: severity {tray_item.severity}. "
            f"Summary: {tray_item.summary}")
    if note:
        text += f"\n\nNote from {author}: {note}"
    return text


def attach(session: Session, actor: Actor, item_id, data) -> dict:
    """Record the alert as an incident about a pupil and mark it attached, in one transaction."""
    tray_item = _load_for_handling(session, actor, item_id)
    data = data if isinstance(data, dict) else {}
    errors: list[dict] = []
    pupil_id = data.get("pupil_id")
    if pupil_id is None:
        pupil_id = tray_item.matched_pupil_id
        if pupil_id is None:
            errors.append({"field": "pupil_id", "message": "This alert did not match a pupil on the roll. "
                                                           "Choose the pupil it is about."})
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        errors.append({"field": "note", "message": "The note must be text."})
        note = None
    elif note is not None:
        note = note.strip() or None
        if note and len(note) > MAX_NOTE_CHARS:
            errors.append({"field": "note", "message": f"The note is longer than {MAX_NOTE_CHARS:,} characters."})
    severity_urgent = tray_item.severity in ("high", "critical")
    urgent = data.get("urgent", severity_urgent)
    if urgent is None:
        urgent = severity_urgent

    incident_data = {
        "pupil_id": pupil_id if pupil_id is not None else 0,
        "occurred_at": _iso(tray_item.occurred_at),
        "account": incident_account(tray_item, note if not errors else None, actor.name),
        "category_ids": data.get("category_ids"),
        "alert_user_ids": data.get("alert_user_ids") or [],
        "alert_groups": data.get("alert_groups") or [],
        "urgent": urgent,
        "record_type": "online_monitoring",
    }
    try:
        incident = record_incident(session, actor, incident_data)
    except ValidationFailed as exc:
        reported = {e["field"] for e in errors}
        raise ValidationFailed(errors + [e for e in exc.errors if e["field"] not in reported]) from None
    if errors:
        # record_incident wrote the incident; raising rolls the whole transaction back.
        raise ValidationFailed(errors)
    row = session.get(Incident, incident["id"])
    row.source = "tray"
    tray_item.status, tray_item.incident_id = "attached", incident["id"]
    tray_item.handled_by, tray_item.handled_by_name, tray_item.handled_at = actor.user_id, actor.name, utcnow()
    session.flush()
    return {"tray_item": item(tray_item, session.get(Pupil, tray_item.matched_pupil_id)
                              if tray_item.matched_pupil_id else None),
            "incident": incident}


def dismiss(session: Session, actor: Actor, item_id, data) -> dict:
    tray_item = _load_for_handling(session, actor, item_id)
    reason = (data or {}).get("reason") if isinstance(data, dict) else None
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_CHARS:
        raise ValidationFailed.one("reason", "Say why this alert needs no record (at least "
                                             f"{MIN_REASON_CHARS} characters), e.g. 'False positive: song lyrics'.")
    if len(reason.strip()) > MAX_REASON_CHARS:
        raise ValidationFailed.one("reason", f"The reason is longer than {MAX_REASON_CHARS:,} characters.")
    tray_item.status, tray_item.dismissed_reason = "dismissed", reason.strip()
    tray_item.handled_by, tray_item.handled_by_name, tray_item.handled_at = actor.user_id, actor.name, utcnow()
    session.flush()
    return item(tray_item, session.get(Pupil, tray_item.matched_pupil_id) if tray_item.matched_pupil_id else None)


def receive_tray_alert(session: Session, actor: Actor, alert) -> dict:
    """The integration's answer: its receipt, and whether this post was new."""
    receipt_, created = receive_alert(session, actor, alert)
    return {"item": receipt_, "created": created}
