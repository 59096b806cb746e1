"""Add incident: the form a member of staff fills in, and what happens when they press a button on it.

The form works without JavaScript: "Find pupil", "Link this pupil", "Add siblings", "Add mark" and
the remove buttons send the form back here and it comes back with the change made and everything
typed still in it. haven.js does the same in the page, without the round trip. A failed save comes
back with every error beside its field, linked pupils and body-map marks included.
"""
from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from services.common.errors import HavenError, ValidationFailed

from ..deps import Ctx, Recorder
from ..usecases import Context, documents, incidents, pupils, roll
from . import bodymap_form, labels
from .common import (FormErrors, as_id, category_tree, error_page, form_text, ints, now_local_input, pupil_label,
                     redirect, render, staff_list, to_utc_iso)

router = APIRouter(include_in_schema=False)

PUPIL_LIST_LIMIT = 100
LINKED_LIST_LIMIT = 50
MAX_LINKED_ROWS = 30


async def categories_for(ctx: Context, user, include_inactive: bool = False) -> list[dict]:
    """The school's categories in tree order (retired ones too, for showing old records to the DSL team)."""
    found = await roll.category_tree(ctx, user, include_inactive)
    return category_tree([c for c in found if include_inactive or c.get("active", True)])


# --- reading the form ----------------------------------------------------------------------------

_LINK_FIELD = re.compile(r"^linked_pupils-(\d{1,3})-pupil_id$")


def read_links(form) -> list[dict]:
    indexes = sorted({int(m.group(1)) for key in form.keys() if (m := _LINK_FIELD.match(key))})
    rows = []
    for n in indexes[:MAX_LINKED_ROWS]:
        rows.append({"pupil_id": form_text(form, f"linked_pupils-{n}-pupil_id", 12).strip(),
                     "role": form_text(form, f"linked_pupils-{n}-role", 30),
                     # Shown beside the row when the form comes back; the record keeps only the id.
                     "label": form_text(form, f"linked_pupils-{n}-label", 300)})
    return rows


def read_form(form) -> dict:
    """What the member of staff typed, as strings and lists, for both the service and a re-render."""
    return {
        "pupil_id": form_text(form, "pupil_id", 12).strip(),
        "pupil_q": form_text(form, "pupil_q", 100).strip(),
        "linked_q": form_text(form, "linked_q", 100).strip(),
        "linked_pick": form_text(form, "linked_pick", 12).strip(),
        "record_type": form_text(form, "record_type", 30),
        "occurred_at": form_text(form, "occurred_at", 40).strip(),
        "location": form_text(form, "location", 1000),
        "account": form_text(form, "account"),
        "childs_words": form_text(form, "childs_words"),
        "others_present": form_text(form, "others_present", 10_000),
        "category_ids": ints(form.getlist("category_ids")),
        "urgent": form.get("urgent") in ("1", "on", "true"),
        "dsl_informed": form_text(form, "dsl_informed", 5),
        "dsl_informed_user_id": form_text(form, "dsl_informed_user_id", 12).strip(),
        "alert_groups": [g for g in form.getlist("alert_groups") if isinstance(g, str)][:10],
        "alert_user_ids": ints(form.getlist("alert_user_ids")),
        "about_staff_ids": ints(form.getlist("about_staff_ids")),
        "linked": read_links(form),
        "marks": bodymap_form.read_marks(form),
        "mark_region": form_text(form, "mark_region", 40),
        # One per form: a second click on Save, or the browser re-sending the form, records nothing twice.
        "client_token": form_text(form, "client_token", 64).strip() or secrets.token_urlsafe(16),
    }


def blank_form() -> dict:
    return {"pupil_id": "", "pupil_q": "", "linked_q": "", "linked_pick": "", "record_type": "observation",
            "occurred_at": now_local_input(), "location": "", "account": "", "childs_words": "",
            "others_present": "", "category_ids": [], "urgent": False, "dsl_informed": "",
            "dsl_informed_user_id": "", "alert_groups": [], "alert_user_ids": [], "about_staff_ids": [], "linked": [],
            "marks": [], "mark_region": "", "client_token": secrets.token_urlsafe(16)}


def for_service(values: dict) -> dict:
    verbally = values["dsl_informed"] == "yes"
    given = {
        "pupil_id": as_id(values["pupil_id"]),
        "record_type": values["record_type"] or None,
        "occurred_at": to_utc_iso(values["occurred_at"]),
        "location": values["location"],
        "account": values["account"],
        "childs_words": values["childs_words"],
        "others_present": values["others_present"],
        "category_ids": values["category_ids"],
        "urgent": values["urgent"],
        "dsl_informed_verbally": verbally,
        "dsl_informed_user_id": as_id(values["dsl_informed_user_id"]) if verbally else None,
        "alert_groups": values["alert_groups"],
        "alert_user_ids": values["alert_user_ids"],
        # A concern about an adult names them: the record is then hidden from them (self-exclusion).
        "about_staff_ids": values.get("about_staff_ids", []),
        "linked_pupils": [{"pupil_id": as_id(link["pupil_id"]), "role": link["role"] or None}
                          for link in values["linked"]],
        "body_map": bodymap_form.for_service(values["marks"]),
        "client_token": values["client_token"],
    }
    # Left out rather than sent empty: "This is required." / the default, as for the API.
    return {k: v for k, v in given.items() if v is not None or k not in ("pupil_id", "record_type")}


# --- showing it --------------------------------------------------------------------------------

ANCHORS = {"pupil_id": "pupil_id", "occurred_at": "occurred_at", "account": "account", "urgent": "urgent",
           "record_type": "record_type-observation", "location": "location", "childs_words": "childs_words",
           "others_present": "others_present", "alert_groups": "alert-dsl", "alert_user_ids": "alert_user_ids", "about_staff_ids": "about_staff_ids",
           "dsl_informed_verbally": "dsl_informed-yes", "dsl_informed_user_id": "dsl_informed_user_id",
           "linked_pupils": "linked-pupils", "body_map": "body-map", "file": "file", "filename": "file"}


def _anchors(categories: list[dict], errors: list[dict]) -> dict:
    anchors = dict(ANCHORS)
    if categories:
        anchors["category_ids"] = f"category-{categories[0]['id']}"
    for e in errors:
        field = str(e.get("field") or "")
        parts = field.split(".")
        if parts[0] == "body_map" and len(parts) >= 2:
            # A mark's position is hidden: send the reader to the mark itself.
            anchors[field] = f"body_map-{parts[1]}" + (f"-{parts[2]}" if len(parts) > 2 and parts[2] not in
                                                       ("x", "y", "side") else "")
        elif parts[0] == "linked_pupils" and len(parts) >= 2:
            anchors[field] = f"linked_pupils-{parts[1]}-role" if len(parts) > 2 else f"linked_pupils-{parts[1]}"
    return anchors


async def render_form(request, user, ctx: Context, values: dict, errors: list[dict] | None = None,
                      status_code: int = 200, problem: str | None = None, notice: str | None = None):
    try:
        found = await pupils.search(ctx, user, values["pupil_q"], PUPIL_LIST_LIMIT)
        linked_choices = []
        if values["linked_q"]:
            linked_choices = await pupils.search(ctx, user, values["linked_q"], LINKED_LIST_LIMIT)
        categories = await categories_for(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    chosen = as_id(values["pupil_id"])
    if chosen is not None and all(p["id"] != chosen for p in found):
        # The child already chosen stays chosen whatever the search box now says.
        try:
            found.insert(0, await pupils.pupil_for_form(ctx, user, chosen))
        except HavenError:
            pass  # no longer on the roll: the service says so when the form is saved
    outline = await incidents.body_map_outline_or_none(ctx, user)
    staff = await staff_list(ctx, user)
    errors = errors or []
    anchors = _anchors(categories, errors)
    # "Choose the pupil" takes the reader to the first child listed, or to the search when none is.
    anchors["pupil_id"] = f"pupil_id-{found[0]['id']}" if found else "pupil-search"
    form_errors = FormErrors(errors, anchors)
    for p in found + linked_choices:
        p["label"] = pupil_label(p)
    drawn = bodymap_form.drawing(outline)
    dsl_categories = [c["name"] for c in categories
                      if "dsl" in (c.get("default_alert_groups") or []) or c.get("sensitivity") == "safeguarding"]
    return render(request, "incident_form.html", user, status_code, values=values, pupils=found,
                  linked_choices=linked_choices, categories=categories,
                  staff=[s for s in staff if s["id"] != user.id], dsl_team=[s for s in staff if s["is_dsl"]],
                  errors=form_errors, summary=form_errors.summary, dsl_categories=dsl_categories, problem=problem,
                  notice=notice, drawing=drawn, marks=bodymap_form.decorate(values["marks"], drawn),
                  regions=bodymap_form.REGIONS, record_types=labels.RECORD_TYPE_CHOICES, roles=labels.LINK_ROLES,
                  mark_types=labels.MARK_TYPES)


@router.get("/incidents/new")
async def new_incident(request: Request, user: Recorder, ctx: Ctx):
    return await render_form(request, user, ctx, blank_form())


# --- the buttons that change the form without saving it --------------------------------------------

async def _link_pupil(ctx: Context, user, values: dict) -> str | None:
    pick = as_id(values["linked_pick"])
    if pick is None:
        return "Choose the pupil to link from the list first."
    if str(pick) == values["pupil_id"]:
        return "That is the pupil the record is about; choose another pupil to link."
    if any(link["pupil_id"] == str(pick) for link in values["linked"]):
        return "That pupil is already linked."
    found = await pupils.search(ctx, user, values["linked_q"], LINKED_LIST_LIMIT)
    chosen = next((p for p in found if p["id"] == pick), None)
    if chosen is None:
        return "That pupil is no longer in the list; search again."
    values["linked"].append({"pupil_id": str(pick), "role": "", "label": pupil_label(chosen)})
    values["linked_pick"] = ""
    return None


async def _add_siblings(ctx: Context, user, values: dict) -> str:
    pupil_id = as_id(values["pupil_id"])
    if pupil_id is None:
        return "Choose the pupil first; then their siblings can be added."
    siblings = await pupils.siblings(ctx, user, pupil_id)
    have = {link["pupil_id"] for link in values["linked"]}
    added = 0
    for s in siblings:
        if str(s["id"]) in have or s.get("on_roll") is False:
            continue
        values["linked"].append({"pupil_id": str(s["id"]), "role": "sibling", "label": pupil_label(s)})
        added += 1
    if not siblings:
        return "No siblings are recorded for this pupil."
    return f"Added {added} sibling{'s' if added != 1 else ''} as linked pupils." if added else \
        "Their siblings are already linked."


async def change_form(ctx: Context, user, values: dict, action: str) -> tuple[str | None, str | None]:
    """(problem, notice) after a button that edits the form."""
    if action == "link":
        return await _link_pupil(ctx, user, values), None
    if action == "add_siblings":
        message = await _add_siblings(ctx, user, values)
        return (message, None) if message.startswith("Choose") else (None, message)
    if action == "add_mark":
        mark = bodymap_form.new_mark(values["mark_region"])
        if mark is None:
            return "Choose where the mark is, then press Add mark.", None
        values["marks"].append(mark)
        return None, f"Mark {len(values['marks'])} added ({bodymap_form.describe(mark['side'], float(mark['x']), float(mark['y']))}). Describe it below."
    if action.startswith("remove_link-") and action[12:].isdigit():
        n = int(action[12:])
        if n < len(values["linked"]):
            values["linked"].pop(n)
        return None, "Linked pupil removed."
    if action.startswith("remove_mark-") and action[12:].isdigit():
        n = int(action[12:])
        if n < len(values["marks"]):
            values["marks"].pop(n)
        return None, "Mark removed."
    return None, None


FORM_ACTIONS = ("find", "find_linked", "link", "add_siblings", "add_mark")


async def read_upload(ctx: Context, form) -> tuple[UploadFile | None, bytes, str | None]:
    """(the chosen file, its content, why it cannot be attached)."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, b"", None
    content = await documents.read_upload(ctx, upload)
    problem = documents.upload_problem(ctx, content)
    if problem:
        return upload, b"", problem + (" Choose it again." if content else "")
    return upload, content, None


CHOOSE_FILE_AGAIN = {"field": "file", "message": "Choose the file again: for your security, browsers do not "
                                                 "keep a chosen file."}


@router.post("/incidents/new")
async def new_incident_submit(request: Request, user: Recorder, ctx: Ctx):
    form = await request.form()
    values = read_form(form)
    action = form_text(form, "action", 40)
    if action in FORM_ACTIONS or action.startswith(("remove_link-", "remove_mark-")):
        try:
            problem, notice = await change_form(ctx, user, values, action)
        except HavenError as exc:
            problem, notice = exc.message, None
        chosen = form.get("file")
        errors = [CHOOSE_FILE_AGAIN] if isinstance(chosen, UploadFile) and chosen.filename else []
        return await render_form(request, user, ctx, values, errors, problem=problem, notice=notice)

    upload, content, file_problem = await read_upload(ctx, form)
    if file_problem:
        # Checked before recording, so a rejected file never leaves a record without its attachment.
        return await render_form(request, user, ctx, values, [{"field": "file", "message": file_problem}],
                                 status_code=422)
    try:
        incident = await incidents.record_incident(ctx, user, for_service(values))
    except ValidationFailed as exc:
        errors = list(exc.errors)
        if upload is not None:
            errors.append(CHOOSE_FILE_AGAIN)
        return await render_form(request, user, ctx, values, errors, status_code=422)
    except HavenError as exc:
        return await render_form(request, user, ctx, values, status_code=exc.status_code,
                                 problem=f"{exc.message} Your account has not been saved yet; it is still "
                                         "in the form below.")
    query = []
    named = sorted({w.get("field") for w in incident.get("warnings") or [] if w.get("field")})
    if named:
        query.append("named=" + ",".join(named))
    if upload is not None and not incident.get("replayed"):
        try:
            await documents.attach(ctx, user, incident["id"], upload.filename, upload.content_type, content)
        except HavenError:
            query.append("file=failed")
    target = f"/incidents/{incident['id']}/recorded"
    return redirect(target + ("?" + "&".join(query) if query else ""))
