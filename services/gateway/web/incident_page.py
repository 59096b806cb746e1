"""An incident's page: everything recorded, who has been alerted and who has opened it (for the DSL team
and the recorder), its corrections, actions, decisions, outcomes, the DSL's one-line chronology summary,
cases and documents, with the forms to add to each; and "My actions".

Each form posts to its own path and comes back to the incident page: with the section's errors and
what was typed (422) when the service refused it, or at the section's anchor when it was saved.
"""
from __future__ import annotations

import asyncio
from urllib.parse import quote

from fastapi import APIRouter, Request

from services.common.errors import HavenError, StepUpRequired, ValidationFailed

from ..deps import Ctx, CurrentUser, DslUser, Recorder
from ..schemas import PathId
from ..usecases import Context, alerts, documents, follow_up, incidents
from . import bodymap_form, labels
from .common import (FormErrors, as_id, error_page, form_text, redirect, render, save_staff_list, staff_list,
                     to_local_input, to_utc_iso, who_was_alerted)
from .incident_form import categories_for, read_upload

router = APIRouter(include_in_schema=False)


def may(incident: dict, what: str) -> bool:
    """What the incidents service says this reader may do with the record (its policy.py)."""
    return bool((incident.get("may") or {}).get(what))


def may_read_pupil(user, incident: dict) -> bool:
    """Link to the pupil's page: for readers of records (its front sheet decides what they see), never
    from a record shared with an alerted member of staff."""
    actor = user.actor
    return not may(incident, "shared") and (actor.is_dsl or actor.is_slt
                                            or (bool(actor.grants) and actor.second_factor_verified))


def step_up(request: Request):
    """A safeguarding record needs a recent second factor: ask for it, then come back here."""
    return redirect("/step-up?next=" + quote(request.url.path, safe=""))


async def read_incident(ctx: Context, user, incident_id: int) -> dict:
    return await incidents.read_incident(ctx, user, incident_id)


def describe_marks(incident: dict) -> list[dict]:
    marks = []
    for n, m in enumerate(incident.get("body_map") or [], start=1):
        marks.append({**m, "number": n, "where": bodymap_form.describe(m.get("side"), m.get("x"), m.get("y")),
                      "type_label": m.get("mark_type_label") or labels.label(labels.MARK_TYPES, m.get("mark_type"))})
    return marks


def body_map_alt(marks: list[dict]) -> str:
    if not marks:
        return "Body map with no marks."
    parts = [f"{m['number']}. {m['type_label']}, {m['where'].lower()}" for m in marks]
    count = f"{len(marks)} mark{'s' if len(marks) != 1 else ''}"
    return f"Body map, front and back, with {count}: " + "; ".join(parts) + "."


async def optional(call, default=None):
    """A part of a page that may be refused to this reader (e.g. decisions for a teacher)."""
    try:
        return await call, None
    except HavenError as exc:
        return default, exc


async def cases_for(ctx: Context, user, incident: dict) -> tuple[list[dict], list[dict]]:
    """(the cases this incident is in, the pupil's other open cases), for a reader who may add it to one."""
    if not may(incident, "add_to_case"):
        return [], []
    found, _ = await optional(follow_up.cases(ctx, user, None, incident["pupil_id"]), default=[])
    within = []
    for summary in found or []:
        case, _ = await optional(follow_up.read_case(ctx, user, summary["id"]))
        if case and any(i["id"] == incident["id"] for i in case.get("incidents") or []):
            within.append(case)
    ids = {c["id"] for c in within}
    return within, [c for c in found or [] if c["status"] == "open" and c["id"] not in ids]


async def incident_view(request, user, ctx: Context, incident_id: int, forms: dict | None = None,
                        status_code: int = 200, **extra):
    try:
        incident = await read_incident(ctx, user, incident_id)
    except StepUpRequired:
        return step_up(request)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    # The rest of the page only once the record itself may be read; its parts are asked for together,
    # each only when the record's `may` says this reader sees it.
    follow_ups = may(incident, "see_follow_up")  # decisions and outcomes

    async def attached_files():
        if not may(incident, "see_documents"):
            return [], None  # not part of the record as shared with alerted staff
        try:
            return await documents.list_for_incident(ctx, user, incident_id), None
        except HavenError as exc:
            return [], exc.message

    async def nothing():
        return None, None

    async def category_colours():
        try:
            return await categories_for(ctx, user, include_inactive=user.is_dsl)
        except HavenError:
            return []  # tags without their colours

    (actions, actions_problem), (decisions, _), (outcomes, _), (files, files_problem), (cases, open_cases), \
        categories, (receipts, receipts_problem) = await asyncio.gather(
            optional(follow_up.incident_actions(ctx, user, incident_id), default=[]) if may(incident, "see_actions")
            else nothing(),
            optional(follow_up.decisions(ctx, user, incident_id)) if follow_ups else nothing(),
            optional(follow_up.outcomes(ctx, user, incident_id)) if follow_ups else nothing(),
            attached_files(), cases_for(ctx, user, incident), category_colours(),
            alerts.incident_alerts_for_page(ctx, user, incident))
    colours = {c["id"]: c.get("colour") for c in categories}
    incident["categories"] = [{**c, "colour": colours.get(c["id"])} for c in incident.get("categories") or []]
    staff = await staff_list(ctx, user)
    marks = describe_marks(incident)
    forms = forms or {}
    return render(request, "incident.html", user, status_code, incident=incident, current=incident.get("current")
                  or incident, documents=files, documents_problem=files_problem,
                  alerted=await who_was_alerted(ctx, user, incident), may_attach=may(incident, "attach"),
                  may_amend=may(incident, "amend"), may_read_pupil=may_read_pupil(user, incident),
                  may_restrict=may(incident, "restrict"), shared=may(incident, "shared"),
                  may_see_documents=may(incident, "see_documents"), may_add_to_case=may(incident, "add_to_case"),
                  may_record_decision=may(incident, "record_decision"),
                  may_add_action=may(incident, "add_action"),
                  actions=actions or [], actions_problem=actions_problem if actions_problem and
                  actions_problem.status_code != 403 else None,
                  decisions=decisions, outcomes=outcomes, cases=cases, open_cases=open_cases, staff=staff,
                  marks=marks, body_map_alt=body_map_alt(marks), forms=forms,
                  receipts=receipts, receipts_problem=receipts_problem, may_summarise=user.is_dsl,
                  file_error=forms.get("file_error"), attached=extra.get("attached", ""),
                  done=extra.get("done", ""))


@router.get("/incidents/{incident_id}/recorded")
async def incident_recorded(request: Request, incident_id: PathId, user: CurrentUser, ctx: Ctx,
                            file: str = "", named: str = ""):
    try:
        incident = await read_incident(ctx, user, incident_id)
    except StepUpRequired:
        return step_up(request)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    fields = {"account": "what happened", "childs_words": "the child's own words",
              "others_present": "who else was present"}
    named_fields = [fields[f] for f in named.split(",") if f in fields]
    return render(request, "incident_recorded.html", user, incident=incident,
                  alerted=await who_was_alerted(ctx, user, incident), file_failed=file == "failed",
                  named_fields=named_fields)


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: PathId, user: CurrentUser, ctx: Ctx,
                        alert: int | None = None, attached: str = "", done: str = ""):
    if alert is not None:
        # Opening the record from an alert is the read receipt the DSL relies on.
        try:
            await alerts.mark_read(ctx, user, alert)
        except HavenError:
            pass
    return await incident_view(request, user, ctx, incident_id, attached=attached, done=done[:20])


@router.post("/incidents/{incident_id}/documents")
async def attach_document(request: Request, incident_id: PathId, user: Recorder, ctx: Ctx):
    form = await request.form()
    upload, content, problem = await read_upload(ctx, form)
    if upload is None:
        problem = "Choose the file to attach."
    if problem is None:
        try:
            await documents.attach(ctx, user, incident_id, upload.filename, upload.content_type, content)
            return redirect(f"/incidents/{incident_id}?attached=1#documents")
        except ValidationFailed as exc:
            problem = " ".join(e.get("message", "") for e in exc.errors) or exc.message
        except HavenError as exc:
            return error_page(request, exc.status_code, exc.message, user)
    return await incident_view(request, user, ctx, incident_id, {"file_error": problem}, 422)


# --- amendments --------------------------------------------------------------------------------

def _amend_value(incident: dict, field: str) -> str:
    current = incident.get("current") or incident
    value = current.get(field)
    if field == "occurred_at":
        return to_local_input(value)
    return value or ""


async def _amend_view(request, user, ctx: Context, incident_id: int, field: str, values: dict | None = None,
                      errors: list[dict] | None = None, status_code: int = 200):
    try:
        incident = await read_incident(ctx, user, incident_id)
    except StepUpRequired:
        return step_up(request)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    if not may(incident, "amend"):
        return error_page(request, 403, "Only the member of staff who recorded this, or the DSL team, can "
                                        "correct it.", user)
    field = field if field in labels.AMENDABLE_FIELDS else ""
    values = values or {"field": field, "new_value": _amend_value(incident, field) if field else "", "reason": ""}
    form_errors = FormErrors(errors, {"field": "field", "new_value": "new_value", "reason": "reason"})
    return render(request, "amend.html", user, status_code, incident=incident, field=field, values=values,
                  errors=form_errors, summary=form_errors.summary, current=incident.get("current") or incident)


@router.get("/incidents/{incident_id}/amend")
async def amend_page(request: Request, incident_id: PathId, user: Recorder, ctx: Ctx,
                     field: str = ""):
    return await _amend_view(request, user, ctx, incident_id, field[:40])


@router.post("/incidents/{incident_id}/amend")
async def amend_submit(request: Request, incident_id: PathId, user: Recorder, ctx: Ctx):
    form = await request.form()
    field = form_text(form, "field", 40)
    values = {"field": field, "new_value": form_text(form, "new_value"), "reason": form_text(form, "reason", 10_000)}
    if form_text(form, "action", 20) == "choose" or field not in labels.AMENDABLE_FIELDS:
        # Choosing the field (without JavaScript): show the form for that field.
        errors = [] if field in labels.AMENDABLE_FIELDS else [{"field": "field",
                                                               "message": "Choose what you are correcting."}]
        return await _amend_view(request, user, ctx, incident_id, field, None if not errors else values,
                                 errors, 422 if errors else 200)
    new_value = to_utc_iso(values["new_value"]) if field == "occurred_at" else values["new_value"]
    try:
        await incidents.amend_incident(ctx, user, incident_id,
                                       {"field": field, "new_value": new_value, "reason": values["reason"]})
    except ValidationFailed as exc:
        return await _amend_view(request, user, ctx, incident_id, field, values, exc.errors, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done=amended#corrections")


# --- actions -----------------------------------------------------------------------------------

@router.post("/incidents/{incident_id}/actions")
async def add_action(request: Request, incident_id: PathId, user: Recorder, ctx: Ctx):
    form = await request.form()
    values = {"description": form_text(form, "description", 10_000), "taken_at": form_text(form, "taken_at", 40),
              "assigned_to_user_id": form_text(form, "assigned_to_user_id", 12), "due_on": form_text(form, "due_on", 20)}
    body = {"description": values["description"],
            "taken_at": to_utc_iso(values["taken_at"]) if values["taken_at"].strip() else None,
            "due_on": values["due_on"].strip() or None}
    try:
        assignee = as_id(values["assigned_to_user_id"])
        if assignee is not None:
            body["assigned_to_user_id"] = assignee
        await follow_up.add_action(ctx, user, incident_id, body)
    except ValidationFailed as exc:
        return await incident_view(request, user, ctx, incident_id,
                                   {"action": {"typed": values, "errors": FormErrors(exc.errors)}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done=action#actions")


@router.post("/actions/{action_id}/complete")
async def complete_action(request: Request, action_id: PathId, user: CurrentUser, ctx: Ctx):
    form = await request.form()
    note = form_text(form, "note", 10_000)
    back = form_text(form, "back", 200)
    try:
        action = await follow_up.complete_action(ctx, user, action_id, {"note": note})
    except ValidationFailed as exc:
        incident_id = as_id(form_text(form, "incident_id", 12))
        if incident_id is None:
            return error_page(request, 422, " ".join(e.get("message", "") for e in exc.errors), user)
        return await incident_view(request, user, ctx, incident_id,
                                   {"complete": {"action_id": action_id, "note": note,
                                                 "errors": FormErrors(exc.errors)}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    if back == "my-actions":
        return redirect(f"/actions?done={action_id}")
    return redirect(f"/incidents/{action['incident_id']}?done=completed#action-{action_id}")


@router.get("/actions")
async def my_actions(request: Request, user: CurrentUser, ctx: Ctx, show: str = "open",
                     done: str = ""):
    open_only = show != "all"
    try:
        actions = await follow_up.my_actions(ctx, user, open_only)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "actions.html", user, actions=actions, show="all" if not open_only else "open",
                  done=done[:12])


# --- decisions and outcomes (the DSL team) ----------------------------------------------------------

@router.post("/incidents/{incident_id}/decisions")
async def add_decision(request: Request, incident_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {k: form_text(form, k, 10_000) for k in ("decision_type", "reason", "agency", "reference")}
    body = {"decision_type": values["decision_type"] or None, "reason": values["reason"],
            "agency": values["agency"].strip() or None, "reference": values["reference"].strip() or None}
    try:
        await follow_up.record_decision(ctx, user, incident_id, body)
    except ValidationFailed as exc:
        return await incident_view(request, user, ctx, incident_id,
                                   {"decision": {"typed": values, "errors": FormErrors(
                                       exc.errors, {"decision_type": f"decision_type-{next(iter(labels.DECISION_TYPES))}"})}},
                                   422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done=decision#decisions")


@router.post("/incidents/{incident_id}/outcomes")
async def add_outcome(request: Request, incident_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {k: form_text(form, k, 10_000) for k in ("outcome_type", "note")}
    body = {"outcome_type": values["outcome_type"] or None, "note": values["note"].strip() or None}
    try:
        await follow_up.record_outcome(ctx, user, incident_id, body)
    except ValidationFailed as exc:
        return await incident_view(request, user, ctx, incident_id,
                                   {"outcome": {"typed": values, "errors": FormErrors(
                                       exc.errors, {"outcome_type": f"outcome_type-{next(iter(labels.OUTCOME_TYPES))}",
                                                    "note": "outcome-note"})}},
                                   422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done=outcome#outcomes")


@router.post("/incidents/{incident_id}/case")
async def add_to_case(request: Request, incident_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    case_id = as_id(form_text(form, "case_id", 12))
    if case_id is None:
        return await incident_view(request, user, ctx, incident_id,
                                   {"case": {"errors": FormErrors([{"field": "case_id",
                                                                   "message": "Choose the case to add this to."}])}},
                                   422)
    try:
        await follow_up.add_incident_to_case(ctx, user, case_id, incident_id)
    except ValidationFailed as exc:
        return await incident_view(request, user, ctx, incident_id,
                                   {"case": {"errors": FormErrors([{**e, "field": "case_id"} for e in exc.errors])}},
                                   422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done=case#cases")


# --- the one-line summary on the chronology (the DSL team) -------------------------------------------

@router.post("/incidents/{incident_id}/summary")
async def set_summary(request: Request, incident_id: PathId, user: DslUser, ctx: Ctx):
    """The line the DSL team's chronology shows for this incident; an empty one clears it."""
    form = await request.form()
    summary = form_text(form, "summary", 1_000)
    try:
        await incidents.set_summary(ctx, user, incident_id, summary.strip())
    except ValidationFailed as exc:
        return await incident_view(request, user, ctx, incident_id,
                                   {"summary": {"typed": {"summary": summary}, "errors": FormErrors(
                                       exc.errors, {"summary": "chronology-summary"})}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done=summary#summary")


# --- restricting a record to the DSL team ----------------------------------------------------------

@router.post("/incidents/{incident_id}/restriction")
async def restrict(request: Request, incident_id: PathId, user: DslUser, ctx: Ctx):
    """Restrict the record to the DSL team (with a reason) or lift it; the service decides who may."""
    form = await request.form()
    restricted = form_text(form, "restricted", 10) == "true"
    reason = form_text(form, "reason", 2_000)
    try:
        await incidents.restrict_incident(ctx, user, incident_id, restricted, reason.strip() or None)
    except ValidationFailed as exc:
        return await incident_view(request, user, ctx, incident_id,
                                   {"restrict": {"typed": {"reason": reason}, "errors": FormErrors(
                                       exc.errors, {"reason": "restrict-reason"})}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{incident_id}?done={'restricted' if restricted else 'unrestricted'}#restriction")


@router.post("/incidents/{incident_id}/excluded-staff")
async def excluded_staff(request: Request, incident_id: PathId, user: DslUser, ctx: Ctx):
    """The staff the record is about (the whole list, from the checkboxes): hidden from each of them."""
    ids, failed = await save_staff_list(
        request, user, lambda ids: incidents.set_excluded_staff(ctx, user, incident_id, ids))
    if failed:
        return failed
    if user.id in ids:  # the record no longer exists for them: another DSL takes it from here
        return redirect("/?done=stepped-aside")
    return redirect(f"/incidents/{incident_id}?done=excluded#restriction")
