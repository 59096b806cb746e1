"""What crosses the wire from the alerts service: plain JSON-ready dicts."""
from __future__ import annotations

from .models import Alert, Mail


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
    }


def failed_mail(m: Mail) -> dict:
    # Never the subject or body: an operator needs to know what did not go, not to read it.
    return {"id": m.id, "alert_id": m.alert_id, "to_address": m.to_address, "attempts": m.attempts,
            "last_error": m.last_error}
