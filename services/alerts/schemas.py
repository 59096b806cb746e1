"""What crosses the wire from the alerts service: plain JSON-ready dicts."""
from __future__ import annotations

from .models import Alert, Escalation, Mail, SchoolSettings, WatchedIncident


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def alert(a: Alert) -> dict:
    return {
        "id": a.id,
        "incident_id": a.incident_id,
        "tray_item_id": a.tray_item_id,
        "created_at": _iso(a.created_at),
        "read_at": _iso(a.read_at),
        "raised_by": {"id": a.raised_by_user_id, "name": a.raised_by_name},
        "categories": list(a.category_names or []),
        "urgent": a.urgent,
        "kind": a.kind,
        "escalation_level": a.escalation_level,
    }


def failed_mail(m: Mail, recipient_name: str | None) -> dict:
    # Never the subject or body: an operator needs to know what did not go, not to read it.
    return {"id": m.id, "alert_id": m.alert_id, "to_address": m.to_address, "attempts": m.attempts,
            "last_error": m.last_error, "status": m.status, "queued_at": _iso(m.queued_at),
            "recipient": {"id": m.user_id, "name": recipient_name} if m.user_id else None}


def incident_alerts(w: WatchedIncident, alerts: list[Alert], names: dict[int, str], mails: dict[int, str],
                    escalations: list[Escalation]) -> dict:
    return {
        "incident_id": w.incident_id, "urgent": w.urgent, "recorded_at": _iso(w.recorded_at),
        "opened_at": _iso(w.opened_at),
        "opened_by": {"id": w.opened_by, "name": w.opened_by_name} if w.opened_by else None,
        "escalations": [{"level": e.level, "to": e.to_group, "at": _iso(e.at), "recipients": e.recipients}
                        for e in escalations],
        "receipts": [{"alert_id": a.id, "recipient": {"id": a.user_id, "name": names.get(a.user_id)},
                      "kind": a.kind, "escalation_level": a.escalation_level, "created_at": _iso(a.created_at),
                      "read_at": _iso(a.read_at), "mail": mails.get(a.id)} for a in alerts],
    }


def unopened(w: WatchedIncident) -> dict:
    return {"incident_id": w.incident_id, "urgent": w.urgent, "recorded_at": _iso(w.recorded_at),
            "categories": list(w.category_names or []),
            "recorded_by": {"id": w.recorded_by, "name": w.recorded_by_name}, "escalation_level": w.escalation_level}


def school_settings(s: SchoolSettings) -> dict:
    return {"escalate_after_minutes": s.escalate_after_minutes, "digest_time": s.digest_time,
            "category_in_email": s.category_in_email, "unactioned_after_days": s.unactioned_after_days}
