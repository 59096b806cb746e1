"""The incident tray (the DSL team): alerts from online-safety monitoring systems, each attached to a
pupil as an incident or dismissed with a reason."""
from __future__ import annotations

from fastapi import APIRouter, Request

from services.common.errors import HavenError, ValidationFailed

from services.common.contracts.incidents import TRAY_FILTERS

from ..deps import Ctx, DslUser
from ..schemas import PathId
from ..usecases import Context, pupils, tray
from . import labels
from .common import FormErrors, as_id, error_page, form_text, ints, pupil_label, redirect, render
from .incident_form import categories_for

router = APIRouter(include_in_schema=False)


async def tray_view(request, user, ctx: Context, status: str = "pending", forms: dict | None = None,
                    status_code: int = 200, done: str = ""):
    try:
        items = await tray.list_tray(ctx, user, status)
        categories = await categories_for(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    forms = forms or {}
    for item in items:
        form = forms.get(item["id"]) or {}
        choices = []
        if item.get("pupil"):
            choices.append({**item["pupil"], "label": pupil_label(item["pupil"])})
        if form.get("q"):
            try:
                found = await pupils.search(ctx, user, form["q"], 50)
            except HavenError:
                found = []
            choices += [{**p, "label": pupil_label(p)} for p in found if not any(c["id"] == p["id"] for c in choices)]
        item["choices"] = choices
        item["form"] = form
    summary = [s for form in forms.values() for s in form["errors"].summary] if forms else []
    return render(request, "tray.html", user, status_code, items=items, status=status, categories=categories,
                  summary=summary, done=done, severities=labels.SEVERITIES)


@router.get("/tray")
async def tray_page(request: Request, user: DslUser, ctx: Ctx, status: str = "pending",
                    done: str = ""):
    return await tray_view(request, user, ctx, status if status in TRAY_FILTERS else "pending", done=done[:20])


def _attach_values(form) -> dict:
    return {"pupil_id": form_text(form, "pupil_id", 12), "q": form_text(form, "q", 100).strip(),
            "category_ids": ints(form.getlist("category_ids")),
            "alert_groups": [g for g in form.getlist("alert_groups") if isinstance(g, str)][:5],
            "urgent": form_text(form, "urgent", 5), "note": form_text(form, "note", 20_000),
            "reason": form_text(form, "reason", 5_000)}


@router.post("/tray/{item_id}/attach")
async def tray_attach(request: Request, item_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = _attach_values(form)
    anchors = {"pupil_id": f"t{item_id}-q", "category_ids": f"t{item_id}-categories",
               "note": f"t{item_id}-note", "alert_groups": f"t{item_id}-alert-dsl"}
    if form_text(form, "action", 20) == "find":  # the pupil search without JavaScript
        return await tray_view(request, user, ctx, forms={item_id: {**values, "kind": "attach",
                                                                        "errors": FormErrors([], anchors)}})
    body = {"pupil_id": as_id(values["pupil_id"]), "category_ids": values["category_ids"],
            "alert_groups": values["alert_groups"], "alert_user_ids": [],
            "urgent": values["urgent"] == "yes", "note": values["note"].strip() or None}
    try:
        result = await tray.attach(ctx, user, item_id, body)
    except ValidationFailed as exc:
        return await tray_view(request, user, ctx, forms={item_id: {**values, "kind": "attach",
                                                                        "errors": FormErrors(exc.errors, anchors)}},
                               status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{result['incident']['id']}")


@router.post("/tray/{item_id}/dismiss")
async def tray_dismiss(request: Request, item_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = _attach_values(form)
    try:
        await tray.dismiss(ctx, user, item_id, {"reason": values["reason"]})
    except ValidationFailed as exc:
        return await tray_view(request, user, ctx, forms={item_id: {**values, "kind": "dismiss", "errors": FormErrors(
            exc.errors, {"reason": f"t{item_id}-reason"})}}, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect("/tray?done=dismissed")
