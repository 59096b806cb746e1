"""The incident tray (the DSL team): alerts from online-safety monitoring systems, each attached to a
pupil as an incident or dismissed with a reason."""
from __future__ import annotations

from fastapi import APIRouter, Request

from services.common.errors import HavenError, ValidationFailed

from ..deps import CurrentUser, Database, Rpc
from . import labels
from .api import Pages
from .common import FormErrors, as_id, dsl_only, error_page, form_text, ints, pupil_label, redirect, render
from .incident_form import categories_for

router = APIRouter(include_in_schema=False)
STATUSES = ("pending", "attached", "dismissed", "all")


async def tray_view(request, user, rpc, db, status: str = "pending", forms: dict | None = None,
                    status_code: int = 200, done: str = ""):
    pages = Pages(request, user, rpc, db)
    try:
        items = await pages.read("read_tray", "tray", status, "list_tray", status)
        categories = await categories_for(rpc, user)
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
                found = await rpc.call("incidents", "search_pupils", user.actor_token, form["q"], 50)
            except HavenError:
                found = []
            choices += [{**p, "label": pupil_label(p)} for p in found if not any(c["id"] == p["id"] for c in choices)]
        item["choices"] = choices
        item["form"] = form
    summary = [s for form in forms.values() for s in form["errors"].summary] if forms else []
    return render(request, "tray.html", user, status_code, items=items, status=status, categories=categories,
                  summary=summary, done=done, severities=labels.SEVERITIES)


@router.get("/tray")
async def tray_page(request: Request, user: CurrentUser, rpc: Rpc, db: Database, status: str = "pending",
                    done: str = ""):
    if refused := dsl_only(request, user):
        return refused
    return await tray_view(request, user, rpc, db, status if status in STATUSES else "pending", done=done[:20])


def _attach_values(form) -> dict:
    return {"pupil_id": form_text(form, "pupil_id", 12), "q": form_text(form, "q", 100).strip(),
            "category_ids": ints(form.getlist("category_ids")),
            "alert_groups": [g for g in form.getlist("alert_groups") if isinstance(g, str)][:5],
            "urgent": form_text(form, "urgent", 5), "note": form_text(form, "note", 20_000),
            "reason": form_text(form, "reason", 5_000)}


@router.post("/tray/{item_id}/attach")
async def tray_attach(request: Request, item_id: int, user: CurrentUser, rpc: Rpc, db: Database):
    if refused := dsl_only(request, user):
        return refused
    form = await request.form()
    values = _attach_values(form)
    anchors = {"pupil_id": f"t{item_id}-pupil_id", "category_ids": f"t{item_id}-categories",
               "note": f"t{item_id}-note", "alert_groups": f"t{item_id}-alert-dsl"}
    if form_text(form, "action", 20) == "find":  # the pupil search without JavaScript
        return await tray_view(request, user, rpc, db, forms={item_id: {**values, "kind": "attach",
                                                                        "errors": FormErrors([], anchors)}})
    body = {"pupil_id": as_id(values["pupil_id"]), "category_ids": values["category_ids"],
            "alert_groups": values["alert_groups"], "alert_user_ids": [],
            "urgent": values["urgent"] == "yes", "note": values["note"].strip() or None}
    try:
        result = await Pages(request, user, rpc, db).write("attach_tray_item", "tray_item", item_id,
                                                           "attach_tray_item", item_id, body)
    except ValidationFailed as exc:
        return await tray_view(request, user, rpc, db, forms={item_id: {**values, "kind": "attach",
                                                                        "errors": FormErrors(exc.errors, anchors)}},
                               status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/incidents/{result['incident']['id']}")


@router.post("/tray/{item_id}/dismiss")
async def tray_dismiss(request: Request, item_id: int, user: CurrentUser, rpc: Rpc, db: Database):
    if refused := dsl_only(request, user):
        return refused
    form = await request.form()
    values = _attach_values(form)
    try:
        await Pages(request, user, rpc, db).write("dismiss_tray_item", "tray_item", item_id, "dismiss_tray_item",
                                                  item_id, {"reason": values["reason"]})
    except ValidationFailed as exc:
        return await tray_view(request, user, rpc, db, forms={item_id: {**values, "kind": "dismiss", "errors": FormErrors(
            exc.errors, {"reason": f"t{item_id}-reason"})}}, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect("/tray?done=dismissed")
