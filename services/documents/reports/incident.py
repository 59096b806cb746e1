"""The single-incident report: the record as it reads now, its corrections (and, for the DSL team, what
they replaced), the body map drawn from its marks, and the follow-up: actions, decisions, outcomes.

It is made from the incidents service's answers, checked against that service's contract as they come
in: `get_incident` (an IncidentView, whole or as shared with the reader) and, for a reader who may see
them, `list_incident_actions`, `list_decisions` and `list_outcomes`. A follow-up list left out (None)
is a section left out; an empty one says "None recorded".
"""
from __future__ import annotations

from datetime import datetime

from services.common.contracts.bodymap import BOX_HEIGHT, BOX_WIDTH, OUTLINES, SIDES
from services.common.contracts.incidents import (AMENDABLE_FIELDS, DECISION_TYPE_LABELS, OUTCOME_TYPE_LABELS,
                                                 RECORD_TYPE_LABELS, ActionView, DecisionView, IncidentView,
                                                 OutcomeView)

from .render import render_pdf, when

# The body map's drawing (SVG user units): the outlines side by side, as the incidents service draws them.
MAP_MARGIN, MAP_GAP, MAP_LABEL_SPACE = 20, 40, 30


def incident_pdf(incident: dict, produced_for: str, produced_at: datetime, *, actions: list[dict] | None = None,
                 decisions: list[dict] | None = None, outcomes: list[dict] | None = None) -> bytes:
    view = IncidentView.model_validate(incident)
    context = {
        "incident": _record(view),
        "marks": _marks(view),
        "corrections": [_correction(a) for a in view.amendments],
        "originals": _originals(view),
        "actions": None if actions is None else [_action(ActionView.model_validate(a)) for a in actions],
        "decisions": None if decisions is None else [_decision(DecisionView.model_validate(d)) for d in decisions],
        "outcomes": None if outcomes is None else [_outcome(OutcomeView.model_validate(o)) for o in outcomes],
    }
    context["drawing"] = _drawing(context["marks"])
    return render_pdf("incident.html", context, produced_for=produced_for, produced_at=produced_at)


def _extra(model, key: str):
    """A field the service sends beyond what the contract declares (Views allow them), or None."""
    return (model.model_extra or {}).get(key)


def _name(person) -> str:
    """A Person, or the {"id", "name"} dict the service sends inside an extra field."""
    name = person.get("name") if isinstance(person, dict) else getattr(person, "name", None)
    return name or ""


def _field_text(field: str, value) -> str:
    if value is None or value == "":
        return "(cleared)"
    if field == "occurred_at":
        return when(value)
    if field == "record_type":
        return RECORD_TYPE_LABELS.get(value, value)
    return str(value)


def _record(view: IncidentView) -> dict:
    # The whole record for the DSL team holds the fields as first written, with the corrections applied
    # in `current`; other readers' fields are already corrected. Either way the report shows it as it
    # reads now, and the corrections below it.
    now = {"occurred_at": view.occurred_at, "record_type_label": view.record_type_label,
           "location": view.location, "account": view.account, "childs_words": view.childs_words,
           "others_present": view.others_present}
    now.update({k: v for k, v in view.current.items() if k in now})
    told = _extra(view, "dsl_informed") or {}
    pupil = view.pupil
    return {
        **now,
        "id": view.id,
        "pupil": {"name": pupil.name, "year_group": pupil.year_group, "form": pupil.form},
        "recorded_at": view.recorded_at, "recorded_by": _name(view.recorded_by),
        "categories": [c.name for c in view.categories],
        "urgent": view.urgent, "restricted": view.restricted, "shared": view.shared,
        "dsl_told_verbally": bool(told.get("verbally")), "dsl_told_name": told.get("name") or "",
        "linked_pupils": [{"name": (link.get("pupil") or {}).get("name") or "",
                           "role": link.get("role_label") or link.get("role") or ""}
                          for link in view.linked_pupils],
    }


def _correction(a) -> dict:
    return {"field": a.field_label, "value": _field_text(a.field, a.new_value), "reason": a.reason,
            "by": _name(a.author), "at": a.created_at}


def _originals(view: IncidentView) -> list[dict]:
    """What the corrections replaced, as first written: only in the whole record (the DSL team's)."""
    if not view.shows_original:
        return []
    fields = dict.fromkeys(a.field for a in view.amendments if a.field in AMENDABLE_FIELDS)
    return [{"field": AMENDABLE_FIELDS[f], "value": _field_text(f, getattr(view, f, None))} for f in fields]


def _marks(view: IncidentView) -> list[dict]:
    return [{"number": n, "side": m.side, "x": m.x, "y": m.y, "type": m.mark_type_label,
             "details": "; ".join(f"{key}: {_extra(m, key)}" for key in ("colour", "shape", "size")
                                  if _extra(m, key)),
             "description": _extra(m, "description") or ""}
            for n, m in enumerate(view.body_map, start=1)]


def _drawing(marks: list[dict]) -> dict | None:
    """The body map as numbers for the template's inline <svg>: outlines, and each mark's number where
    it was placed (the same numbering as the list of marks)."""
    if not marks:
        return None
    top = MAP_MARGIN + MAP_LABEL_SPACE
    lefts = {side: MAP_MARGIN + i * (BOX_WIDTH + MAP_GAP) for i, side in enumerate(SIDES)}
    return {
        "width": 2 * MAP_MARGIN + len(SIDES) * BOX_WIDTH + (len(SIDES) - 1) * MAP_GAP,
        "height": top + BOX_HEIGHT + MAP_MARGIN,
        "figures": [{"label": side.capitalize(), "centre": round(left + BOX_WIDTH / 2, 1), "label_y": top - 10,
                     "points": " ".join(f"{left + x * BOX_WIDTH:.1f},{top + y * BOX_HEIGHT:.1f}"
                                        for x, y in OUTLINES[side])}
                    for side, left in lefts.items()],
        "marks": [{"number": m["number"], "x": round(lefts[m["side"]] + m["x"] * BOX_WIDTH, 1),
                   "y": round(top + m["y"] * BOX_HEIGHT, 1)}
                  for m in marks if m["side"] in lefts],
    }


def _action(a: ActionView) -> dict:
    return {"description": a.description, "taken_at": a.taken_at, "due_on": a.due_on,
            "assigned_to": _name(a.assigned_to) if a.assigned_to else "", "by": _name(a.created_by),
            "completed": a.completed, "completed_at": _extra(a, "completed_at"),
            "completion_note": _extra(a, "completion_note") or ""}


def _decision(d: DecisionView) -> dict:
    return {"type": _extra(d, "decision_type_label") or DECISION_TYPE_LABELS.get(d.decision_type, d.decision_type),
            "agency": _extra(d, "agency") or "", "reference": _extra(d, "reference") or "",
            "reason": _extra(d, "reason") or "", "at": _extra(d, "decided_at"),
            "by": _name(_extra(d, "decided_by") or {})}


def _outcome(o: OutcomeView) -> dict:
    return {"type": _extra(o, "outcome_type_label") or OUTCOME_TYPE_LABELS.get(o.outcome_type, o.outcome_type),
            "note": _extra(o, "note") or "", "at": _extra(o, "recorded_at"),
            "by": _name(_extra(o, "recorded_by") or {})}
