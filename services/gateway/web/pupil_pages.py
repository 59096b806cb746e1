"""A pupil's page (readers of records: the DSL team, SLT, category readers): the front sheet, then the
chronology with its filters; and the pupil search that leads to it. The incidents service decides what
each reader sees of them (flags and household for the DSL team alone; safeguarding lines after a
recent second factor).

The filters are a GET form, so a filtered chronology is a link the DSL can bookmark or come back to,
and it works without JavaScript. Marking an entry significant comes back to the same filtered view.
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request

from services.common.errors import HavenError, ValidationFailed

from ..deps import Ctx, CurrentUser, DslUser
from ..schemas import PathId
from ..usecases import Context, pupils, roll
from . import audit_pages, labels
from .common import (FormErrors, as_id, error_page, form_text, redirect, render, safe_next, save_staff_list,
                     staff_list)

router = APIRouter(include_in_schema=False)
PUPIL_SEARCH_LIMIT = 50


@router.get("/pupils")
async def pupil_search(request: Request, user: CurrentUser, ctx: Ctx, q: str = ""):
    if not pupils.reads_records(user):
        return error_page(request, 403, pupils.READERS_ONLY, user)
    q = q.strip()[:100]
    found = []
    if q:
        try:
            found = await pupils.search(ctx, user, q, PUPIL_SEARCH_LIMIT)
        except HavenError as exc:
            return error_page(request, exc.status_code, exc.message, user)
    return render(request, "pupils.html", user, q=q, pupils=found)


def _filters(category: str, date_from: str, date_to: str, entry_type: str, significant: str) -> dict:
    return {"category": category.strip()[:12], "from": date_from.strip()[:10], "to": date_to.strip()[:10],
            "type": entry_type.strip()[:20], "significant": significant in ("1", "on", "true")}


def filter_query(filters: dict) -> str:
    pairs = [(k, v) for k, v in (("category", filters["category"]), ("from", filters["from"]), ("to", filters["to"]),
                                 ("type", filters["type"])) if v]
    if filters["significant"]:
        pairs.append(("significant", "1"))
    return urlencode(pairs)


async def pupil_view(request, user, ctx: Context, pupil_id: int, filters: dict, status_code: int = 200,
                     notice: str | None = None, forms: dict | None = None):
    try:
        sheet = await pupils.front_sheet(ctx, user, pupil_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    try:
        found = await roll.category_tree(ctx, user)
    except HavenError:
        found = []
    categories = {c["id"]: c for c in found}
    chosen = {"category_id": as_id(filters["category"]), "from": filters["from"] or None,
              "to": filters["to"] or None, "type": filters["type"] or None,
              "significant": True if filters["significant"] else None}
    errors: list[dict] = []
    if filters["category"] and chosen["category_id"] is None:
        errors.append({"field": "category_id", "message": "Choose one of the school's categories."})
    chronology, entries = None, []
    if not errors:
        try:
            chronology = await pupils.chronology(ctx, user, pupil_id, chosen)
            entries = chronology.get("entries") or []
        except ValidationFailed as exc:
            errors = exc.errors
            status_code = 422
        except HavenError as exc:
            return error_page(request, exc.status_code, exc.message, user)
    else:
        status_code = 422
    form_errors = FormErrors(errors, {"category_id": "filter-category", "from": "filter-from", "to": "filter-to",
                                      "type": "filter-type", "significant": "filter-significant"})
    for e in entries:
        e["categories"] = [categories[c] for c in e.get("category_ids") or [] if c in categories]
    flags = sheet.get("flags") or {}
    badges = [name for code, name in labels.FLAGS.items() if flags.get(code)]
    if flags.get("sen_status") not in (None, "none"):
        badges.append(labels.label(labels.SEN_STATUSES, flags["sen_status"]))
    filtered = any(filters[k] for k in ("category", "from", "to", "type", "significant"))
    here = f"/pupils/{pupil_id}" + (f"?{filter_query(filters)}" if filter_query(filters) else "")
    hidden = (chronology or {}).get("hidden_needing_step_up") or 0
    # The staff pickers only where the service sent whom the file is hidden from (the DSL team).
    relatives_form = "staff_relative_ids" in (sheet.get("pupil") or {})
    staff = await staff_list(ctx, user) if relatives_form else []
    step_up = "/step-up?next=" + quote(here, safe="")
    return render(request, "pupil.html", user, status_code, sheet=sheet, pupil=sheet.get("pupil") or {},
                  hidden_needing_step_up=hidden, step_up_link=step_up, relatives_form=relatives_form,
                  staff=staff,
                  entries=entries, filters=filters, filtered=filtered, errors=form_errors,
                  summary=form_errors.summary, badges=badges, categories=list(categories.values()), here=here, notice=notice,
                  forms=forms or {}, pupil_audit=await audit_pages.pupil_panel(ctx, user, pupil_id))


@router.get("/pupils/{pupil_id}")
async def pupil_page(request: Request, pupil_id: PathId, user: CurrentUser, ctx: Ctx,
                     category: str = "", type: str = "", significant: str = "", done: str = ""):
    # "from" is a Python keyword: read the dates from the query string directly.
    date_from, date_to = request.query_params.get("from", ""), request.query_params.get("to", "")
    notice = {"significant": "The entry is marked as a significant event.",
              "not-significant": "The entry is no longer marked as significant.",
              "household": "The household member has been added.",
              "agency": "The agency has been added.",
              "relatives": "The staff who are this pupil's parents or carers are saved; the file is hidden "
                           "from them."}.get(done)
    return await pupil_view(request, user, ctx, pupil_id, _filters(category, date_from, date_to, type,
                                                                        significant), notice=notice)


@router.post("/chronology/{entry_id}/significant")
async def mark_significant(request: Request, entry_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    significant = form_text(form, "significant", 5) == "true"
    back = safe_next(form_text(form, "back", 500))
    try:
        await pupils.set_significant(ctx, user, entry_id, significant)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    joiner = "&" if "?" in back else "?"
    return redirect(f"{back}{joiner}done={'significant' if significant else 'not-significant'}#entry-{entry_id}")


@router.post("/pupils/{pupil_id}/household")
async def add_household(request: Request, pupil_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {k: form_text(form, k, 300) for k in ("name", "relationship", "contact")}
    values["parental_responsibility"] = form.get("parental_responsibility") == "1"
    values["lives_with_pupil"] = form.get("lives_with_pupil") == "1"
    body = {**values, "contact": values["contact"].strip() or None}
    try:
        await pupils.add_household_member(ctx, user, pupil_id, body)
    except ValidationFailed as exc:
        return await pupil_view(request, user, ctx, pupil_id, _filters("", "", "", "", ""), 422,
                                forms={"household": {"typed": values, "errors": FormErrors(exc.errors)}})
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/pupils/{pupil_id}?done=household#household")


@router.post("/pupils/{pupil_id}/agencies")
async def add_agency(request: Request, pupil_id: PathId, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {k: form_text(form, k, 300) for k in ("agency", "contact", "started_on", "ended_on")}
    body = {k: (v.strip() or None) for k, v in values.items()}
    try:
        await pupils.add_agency(ctx, user, pupil_id, body)
    except ValidationFailed as exc:
        return await pupil_view(request, user, ctx, pupil_id, _filters("", "", "", "", ""), 422,
                                forms={"agency": {"typed": values, "errors": FormErrors(
                                    exc.errors, {k: f"agency-{k}" for k in values})}})
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/pupils/{pupil_id}?done=agency#agencies")



@router.post("/pupils/{pupil_id}/staff-relatives")
async def staff_relatives(request: Request, pupil_id: PathId, user: DslUser, ctx: Ctx):
    """The staff who are the pupil's parents or carers (the whole list, from the checkboxes)."""
    ids, failed = await save_staff_list(
        request, user, lambda ids: pupils.set_staff_relatives(ctx, user, pupil_id, ids))
    if failed:
        return failed
    if user.id in ids:  # the file no longer exists for them
        return redirect("/pupils")
    return redirect(f"/pupils/{pupil_id}?done=relatives#household")
