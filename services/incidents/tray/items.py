"""The incident tray: alerts posted by online-safety monitoring systems, waiting for the DSL.

A monitoring system (an "integration", authenticated by its API key at the gateway) posts an alert;
it lands here, matched to a pupil by UPN when it can be. The DSL team then attaches each alert to a
pupil as an incident, or dismisses it with a reason. An alert is handled once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow
from services.common.errors import Conflict
from services.common.events import add_to_outbox, make_event

from services.common.contracts.base import parse_moment, validate
from services.common.contracts.incidents import IncidentIn

from ..record.incidents import record_incident
from ..exceptions import Forbidden, NotFound, ValidationFailed
from ..fields import optional_text
from ..models import Incident, OutboxEvent, Pupil, TrayItem
from ..policy import excluded_incident_ids, excluded_pupil_ids, may_post_to_tray, require_dsl_team

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


def match_pupil(session: Session, school_id: int, identifier: str) -> Pupil | None:
    """The on-roll pupil whose UPN this is (case and spaces ignored), or None."""
    upn = identifier.replace(" ", "").upper()
    return session.scalar(select(Pupil).where(Pupil.school_id == school_id, Pupil.on_roll.is_(True),
                                              func.upper(Pupil.upn) == upn))


def receive_alert(session: Session, actor: Actor, alert: dict) -> tuple[dict, bool]:
    """Land an alert in the tray: (receipt, True) when new; the same item and False when this
    integration has already posted this external_id (monitoring systems retry)."""
    if not may_post_to_tray(actor):
        raise Forbidden("Only a monitoring system's API key may post alerts to the tray.")
    # The contract (TrayAlertIn) has checked every field, the time included.
    external_id, identifier = alert["external_id"].strip(), alert["pupil_identifier"].strip()
    severity, summary = alert["severity"], alert["summary"].strip()
    occurred_at = parse_moment(alert["occurred_at"])
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


def visible_to(actor: Actor) -> list:
    """The items this actor sees (the tray, and its count on the DSL's dashboard). Self-exclusion: never
    an item about a pupil whose parent or carer the actor is, nor one attached to a record that names them."""
    return [or_(TrayItem.matched_pupil_id.is_(None), TrayItem.matched_pupil_id.not_in(excluded_pupil_ids(actor))),
            or_(TrayItem.incident_id.is_(None), TrayItem.incident_id.not_in(excluded_incident_ids(actor)))]


def list_tray(session: Session, actor: Actor, status: str | None = "pending", limit: int = 200) -> list[dict]:
    """The tray, newest first. `status` None or "all" lists every item."""
    require_dsl_team(actor, TRAY_TEAM_ONLY)
    query = select(TrayItem, Pupil).outerjoin(Pupil, Pupil.id == TrayItem.matched_pupil_id).where(
        TrayItem.school_id == actor.school_id, *visible_to(actor))
    if status not in (None, "all"):
        query = query.where(TrayItem.status == status)
    query = query.order_by(TrayItem.received_at.desc(), TrayItem.id.desc()).limit(max(1, min(limit, 500)))
    return [item(t, p) for t, p in session.execute(query)]


def _load_for_handling(session: Session, actor: Actor, item_id: int) -> TrayItem:
    """The pending item, locked until the transaction ends so two DSLs cannot both handle it."""
    require_dsl_team(actor, TRAY_TEAM_ONLY)
    query = select(TrayItem).where(TrayItem.id == item_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    tray_item = session.scalar(query)
    if (tray_item is None or tray_item.school_id != actor.school_id
            or session.scalar(select(TrayItem.id).where(TrayItem.id == item_id, *visible_to(actor))) is None):
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


def attach(session: Session, actor: Actor, item_id: int, data: dict) -> dict:
    """Record the alert as an incident about a pupil and mark it attached, in one transaction."""
    tray_item = _load_for_handling(session, actor, item_id)
    pupil_id = data.get("pupil_id") or tray_item.matched_pupil_id
    if pupil_id is None:
        raise ValidationFailed.one("pupil_id", "This alert did not match a pupil on the roll. "
                                               "Choose the pupil it is about.")
    urgent = data.get("urgent")
    # Built from the alert and the DSL's choices, so checked by the contract like any other record.
    new_record = validate(IncidentIn, {
        "pupil_id": pupil_id,
        "occurred_at": _iso(tray_item.occurred_at),
        "account": incident_account(tray_item, optional_text(data.get("note")), actor.name),
        "category_ids": data.get("category_ids") or [],
        "alert_user_ids": data.get("alert_user_ids") or [],
        "alert_groups": data.get("alert_groups") or [],
        "urgent": tray_item.severity in ("high", "critical") if urgent is None else urgent,
        "record_type": "online_monitoring",
    })
    incident = record_incident(session, actor, new_record)
    row = session.get(Incident, incident["id"])
    row.source = "tray"
    tray_item.status, tray_item.incident_id = "attached", incident["id"]
    tray_item.handled_by, tray_item.handled_by_name, tray_item.handled_at = actor.user_id, actor.name, utcnow()
    session.flush()
    return {"tray_item": item(tray_item, session.get(Pupil, tray_item.matched_pupil_id)
                              if tray_item.matched_pupil_id else None),
            "incident": incident}


def dismiss(session: Session, actor: Actor, item_id: int, data: dict) -> dict:
    tray_item = _load_for_handling(session, actor, item_id)
    reason = (data.get("reason") or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        raise ValidationFailed.one("reason", "Say why this alert needs no record (at least "
                                             f"{MIN_REASON_CHARS} characters), e.g. 'False positive: song lyrics'.")
    tray_item.status, tray_item.dismissed_reason = "dismissed", reason
    tray_item.handled_by, tray_item.handled_by_name, tray_item.handled_at = actor.user_id, actor.name, utcnow()
    session.flush()
    return item(tray_item, session.get(Pupil, tray_item.matched_pupil_id) if tray_item.matched_pupil_id else None)


def receive_tray_alert(session: Session, actor: Actor, alert) -> dict:
    """The integration's answer: its receipt, and whether this post was new."""
    receipt_, created = receive_alert(session, actor, alert)
    return {"item": receipt_, "created": created}
