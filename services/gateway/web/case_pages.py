"""Cases (the DSL team): the list, opening a case, and a case's page — its incidents, owner, status and
history, with the forms that change them (each change says why)."""
from __future__ import annotations

from fastapi import APIRouter, Request

from services.common.errors import HavenError, ValidationFailed

from ..deps import Ctx, DslUser
from ..schemas import PathId
from ..usecases import Context, follow_up, pupils
from . import labels
from .common import FormErrors, as_id, error_page, form_text, ints, redirect, render, staff_list

router = APIRouter(include_in_schema=False)


@router.get("/cases")
async def cases_page(request: Request, user: DslUser, ctx: Ctx, status: str = "open"):
    status = status if status in labels.CASE_STATUSES or status == "all" else "open"
    try:
        cases = await follow_up.cases(ctx, user, None if status == "all" else status)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "cases.html", user, cases=cases, status=status)


async def _pupil_incidents(ctx: Context, user, pupil_id: int | None) -> tuple[dict | None, list[dict]]:
    """The pupil and the incidents in their chronology (about them or with them linked), newest first."""
    if pupil_id is None:
        return None, []
    chronology = await pupils.chronology(ctx, user, pupil_id, {"type": "incident"})
    seen, incidents = set(), []
    for e in reversed(chronology.get("entries") or []):
        if e.get("incident_id") and e["incident_id"] not in seen:
            seen.add(e["incident_id"])
            incidents.append(e)
    return chronology.get("pupil"), incidents


async def _new_case_view(request, user, ctx: Context, values: dict, errors: list[dict] | None = None,
                         status_code: int = 200):
    try:
        pupil, incidents = await _pupil_incidents(ctx, user, as_id(values["pupil_id"]))
        found = []
        if pupil is None and values["pupil_q"]:
            found = await pupils.search(ctx, user, values["pupil_q"], 50)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    staff = await staff_list(ctx, user)
    form_errors = FormErrors(errors, {"pupil_id": "case-pupil", "title": "title", "owner_user_id": "owner_user_id",
                                      "incident_ids": "case-incidents"})
    return render(request, "case_new.html", user, status_code, values=values, pupil=pupil, pupils=found,
                  incidents=incidents, dsl_team=[s for s in staff if s["is_dsl"]], errors=form_errors,
                  summary=form_errors.summary)


@router.get("/cases/new")
async def new_case(request: Request, user: DslUser, ctx: Ctx, pupil_id: str = "",
                   incident_id: str = "", q: str = ""):
    values = {"pupil_id": pupil_id[:12], "pupil_q": q[:100], "title": "", "owner_user_id": str(user.id),
              "incident_ids": ints([incident_id])}
    return await _new_case_view(request, user, ctx, values)


@router.post("/cases/new")
async def new_case_submit(request: Request, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {"pupil_id": form_text(form, "pupil_id", 12), "pupil_q": "", "title": form_text(form, "title", 500),
              "owner_user_id": form_text(form, "owner_user_id", 12),
              "incident_ids": ints(form.getlist("incident_ids"))}
    body = {"pupil_id": as_id(values["pupil_id"]), "title": values["title"],
            "owner_user_id": as_id(values["owner_user_id"]), "incident_ids": values["incident_ids"]}
    try:
        case = await follow_up.open_case(ctx, user, {k: v for k, v in body.items() if v is not None})
    except ValidationFailed as exc:
        return await _new_case_view(request, user, ctx, values, exc.errors, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/cases/{case['id']}?done=opened")


async def case_view(request, user, ctx: Context, case_id: int, forms: dict | None = None, status_code: int = 200,
                    done: str = ""):
    try:
        case = await follow_up.read_case(ctx, user, case_id)
        _, incidents = await _pupil_incidents(ctx, user, case["pupil"]["id"])
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    in_case = {i["id"] for i in case.get("incidents") or []}
    staff = await staff_list(ctx, user)
    forms = forms or {}
    summary = [s for key in ("status", "owner", "incident") if forms.get(key) for s in forms[key]["errors"].summary]
    return render(request, "case.html", user, status_code, case=case, forms=forms, summary=summary,
                  addable=[i for i in incidents if i["incident_id"] not in in_case],
                  dsl_team=[s for s in staff if s["is_dsl"] and s["id"] != case["owner"]["id"]], done=done)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: PathId, user: DslUser, ctx: Ctx, done: str = ""):
    return await case_view(request, user, ctx, case_id, done=done[:20])


@router.post("/cases/{case_id}/status")
async def case_status(request: Request, case_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {"status": form_text(form, "status", 30), "reason": form_text(form, "reason", 10_000)}
    try:
        await follow_up.set_case_status(ctx, user, case_id, {"status": values["status"] or None,
                                                              "reason": values["reason"]})
    except ValidationFailed as exc:
        return await case_view(request, user, ctx, case_id, {"status": {"typed": values, "errors": FormErrors(
            exc.errors, {"status": "status", "reason": "status-reason"})}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/cases/{case_id}?done=status")


@router.post("/cases/{case_id}/owner")
async def case_owner(request: Request, case_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {"owner_user_id": form_text(form, "owner_user_id", 12)}
    try:
        await follow_up.change_case_owner(ctx, user, case_id, as_id(values["owner_user_id"]))
    except ValidationFailed as exc:
        return await case_view(request, user, ctx, case_id, {"owner": {"typed": values, "errors": FormErrors(
            exc.errors, {"owner_user_id": "owner_user_id"})}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/cases/{case_id}?done=owner")


@router.post("/cases/{case_id}/incidents")
async def case_add_incident(request: Request, case_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    incident_id = as_id(form_text(form, "incident_id", 12))
    try:
        if incident_id is None:
            raise ValidationFailed.one("incident_id", "Choose the incident to add.")
        await follow_up.add_incident_to_case(ctx, user, case_id, incident_id)
    except ValidationFailed as exc:
        return await case_view(request, user, ctx, case_id, {"incident": {"errors": FormErrors(
            exc.errors, {"incident_id": "add-incident"})}}, 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/cases/{case_id}?done=incident")
