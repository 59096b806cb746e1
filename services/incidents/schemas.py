"""What crosses the wire from the incidents service: plain JSON-ready dicts."""
from __future__ import annotations

from services.common.contracts.incidents import (AMENDABLE_FIELDS, LINK_ROLE_LABELS,  # noqa: F401
                                                 MARK_TYPE_LABELS, RECORD_TYPE_LABELS, RECORD_TYPE_TITLES)

from .models import Amendment, BodyMapMark, Category, Incident, LinkedPupil, Pupil


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def pupil_summary(p: Pupil) -> dict:
    """A pupil as lists name them (PupilSummary)."""
    return {"id": p.id, "name": p.name, "year_group": p.year_group, "form": p.form}


def pupil(p: Pupil) -> dict:
    return {**pupil_summary(p), "upn": p.upn}


def category(c: Category) -> dict:
    return {"id": c.id, "name": c.name, "sensitivity": c.sensitivity,
            "default_alert_groups": list(c.default_alert_groups or [])}


# --- incidents ----------------------------------------------------------------------------------

def initials(p: Pupil) -> str:
    """"J.S.": how the text of a record refers to a linked pupil."""
    return "".join(f"{part[0].upper()}." for part in p.name.split() if part)


def linked_pupil(link: LinkedPupil) -> dict:
    p = link.pupil
    return {"pupil": {"id": p.id, "name": p.name, "year_group": p.year_group, "form": p.form,
                      "initials": initials(p)},
            "role": link.role, "role_label": LINK_ROLE_LABELS.get(link.role, link.role)}


def mark(m: BodyMapMark) -> dict:
    return {"id": m.id, "side": m.side, "x": m.x, "y": m.y, "mark_type": m.mark_type,
            "mark_type_label": MARK_TYPE_LABELS.get(m.mark_type, m.mark_type), "colour": m.colour,
            "shape": m.shape, "size": m.size, "description": m.description}


def amendment(a: Amendment) -> dict:
    return {"id": a.id, "field": a.field, "field_label": AMENDABLE_FIELDS.get(a.field, a.field),
            "new_value": amended_value(a.field, a.new_value), "reason": a.reason,
            "author": {"id": a.author_id, "name": a.author_name}, "created_at": _iso(a.created_at)}


def amended_value(field: str, stored: str):
    """An amendment's value as the field reads on the wire: an emptied optional field is null."""
    return stored if stored or field in ("account", "occurred_at", "record_type") else None


def _as_recorded(i: Incident) -> dict:
    return {"account": i.account, "childs_words": i.childs_words, "location": i.location,
            "others_present": i.others_present, "occurred_at": _iso(i.occurred_at), "record_type": i.record_type}


def current_values(i: Incident) -> dict:
    """The amendable fields with the latest amendment to each applied (amendments are in id order)."""
    values = _as_recorded(i)
    for a in i.amendments:
        if a.field in values:
            values[a.field] = amended_value(a.field, a.new_value)
    values["record_type_label"] = RECORD_TYPE_LABELS.get(values["record_type"], values["record_type"])
    return values


# What a record "as shared with" alerted staff holds: the pupil, categories, account, when and where,
# who recorded it (as corrected) — not linked pupils, the body map, the original of corrections,
# who else was there or was alerted.
SHARED_FIELDS = ("account", "childs_words", "location", "occurred_at", "record_type", "record_type_label")


def shared_incident(i: Incident, *, may: dict) -> dict:
    current = current_values(i)
    return {
        "id": i.id, "pupil": pupil(i.pupil), "pupil_id": i.pupil_id, "occurred_at": current["occurred_at"],
        "recorded_at": _iso(i.recorded_at),
        "recorded_by": {"id": i.recorded_by, "name": i.recorded_by_name, "role": i.recorded_by_role},
        "record_type": current["record_type"], "record_type_label": current["record_type_label"],
        "location": current["location"], "account": current["account"], "childs_words": current["childs_words"],
        "urgent": i.urgent, "categories": [category(c) for c in i.categories], "linked_pupils": [],
        "body_map": [], "amendments": [], "current": {k: current[k] for k in SHARED_FIELDS},
        "shows_original": False, "shared": True, "restricted": False, "may": may,
    }


def restriction(i: Incident) -> dict | None:
    if not i.restricted:
        return None
    return {"reason": i.restricted_reason, "by": i.restricted_by_name, "at": _iso(i.restricted_at)}


def incident(i: Incident, *, show_original: bool = True, warnings: list[dict] | None = None,
             may: dict | None = None, dsl: bool = False) -> dict:
    """The whole record. With `show_original` (the DSL team) the fields are as first recorded and
    `current` has the amendments applied; otherwise the fields read as currently amended. Either
    way `amendments` is the history of corrections. With `dsl`, who the record is about (the staff it
    is hidden from), why it was restricted and the DSL team's one-line summary for the chronology."""
    current = current_values(i)
    fields = _as_recorded(i) if show_original else {k: current[k] for k in AMENDABLE_FIELDS}
    result = {
        "id": i.id,
        "pupil": pupil(i.pupil),
        "pupil_id": i.pupil_id,
        "occurred_at": fields["occurred_at"],
        "recorded_at": _iso(i.recorded_at),
        "recorded_by": {"id": i.recorded_by, "name": i.recorded_by_name, "role": i.recorded_by_role},
        "record_type": fields["record_type"],
        "record_type_label": RECORD_TYPE_LABELS.get(fields["record_type"], fields["record_type"]),
        "location": fields["location"],
        "account": fields["account"],
        "childs_words": fields["childs_words"],
        "others_present": fields["others_present"],
        "dsl_informed": {"verbally": i.dsl_informed_verbally, "user_id": i.dsl_informed_user_id,
                         "name": i.dsl_informed_name},
        "urgent": i.urgent,
        "source": i.source,
        "categories": [category(c) for c in i.categories],
        "alert_user_ids": [a.user_id for a in i.alerts if a.user_id is not None],
        "alert_groups": [a.group for a in i.alerts if a.group is not None],
        "linked_pupils": [linked_pupil(link) for link in sorted(i.linked_pupils, key=lambda link: link.pupil_id)],
        "body_map": [mark(m) for m in i.marks],
        "amendments": [amendment(a) for a in i.amendments],
        "current": current,
        "shows_original": show_original,
        "shared": False,
        "restricted": bool(i.restricted),
        "may": may or {},
    }
    if dsl:
        result["excluded_staff_ids"] = list(i.excluded_staff_ids)
        result["restriction"] = restriction(i)
        result["summary"] = i.dsl_summary.summary if i.dsl_summary is not None else None
    if warnings is not None:
        result["warnings"] = warnings
    return result
