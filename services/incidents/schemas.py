"""What crosses the wire from the incidents service: plain JSON-ready dicts."""
from __future__ import annotations

from .models import Category, Incident, Pupil


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def pupil(p: Pupil) -> dict:
    return {"id": p.id, "name": p.name, "year_group": p.year_group, "form": p.form, "upn": p.upn}


def category(c: Category) -> dict:
    return {"id": c.id, "name": c.name, "sensitivity": c.sensitivity,
            "default_alert_groups": list(c.default_alert_groups or [])}


def incident(i: Incident) -> dict:
    return {
        "id": i.id,
        "pupil": pupil(i.pupil),
        "pupil_id": i.pupil_id,
        "occurred_at": _iso(i.occurred_at),
        "recorded_at": _iso(i.recorded_at),
        "recorded_by": {"id": i.recorded_by, "name": i.recorded_by_name},
        "account": i.account,
        "urgent": i.urgent,
        "categories": [category(c) for c in i.categories],
        "alert_user_ids": [a.user_id for a in i.alerts if a.user_id is not None],
        "alert_groups": [a.group for a in i.alerts if a.group is not None],
    }
