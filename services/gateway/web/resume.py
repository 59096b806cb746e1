"""Nothing written is lost to a time-out: a web form sent after its session ended is kept, and comes
back after signing in again.

When a form's POST finds its session ended or timed out (the cookie still names the session row), the
gateway keeps the form (usecases/saved_forms.py: encrypted, for that member of staff, two hours) and
sends the browser to sign in with `next=/resume/<token>`. After signing in as the same person,
GET /resume/<token> shows the form again as it was sent — the add-incident form filled in, the others
on a page that sends them again — with a notice to check it and press Save. Nothing is saved on the
person's behalf. Another person, an expired or an unknown link gets "Page not found", and nothing.

A chosen file is not kept (a browser never sends it again either): the form asks for it again. The roll
import and document uploads, which are only a file, are not kept at all.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile

from ..deps import SESSION_COOKIE, Ctx, CurrentUser, client_ip
from ..usecases import Context, saved_forms
from . import incident_form
from .common import error_page, redirect, render

router = APIRouter(include_in_schema=False)

# The web forms whose text is worth keeping (all of them write something a person typed).
KEPT_FORMS = re.compile(r"^/(?:incidents/new|incidents/\d{1,10}/(?:amend|actions|decisions|outcomes)"
                        r"|actions/\d{1,10}/complete|tray/\d{1,10}/(?:attach|dismiss)|cases/new)$")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOTICE = "Your session ended before this was saved. Check it and press Save."
MAX_VALUE = 100_000

# How the generic page names the fields people type into; other fields go back as they were sent.
TEXT_FIELDS = {"new_value": "The corrected text", "reason": "Reason", "description": "What was done or is to be done",
               "note": "Note", "agency": "Agency", "reference": "Reference", "title": "Title",
               "summary": "Summary", "taken_at": "When it was done", "due_on": "Due by"}
FORM_NAMES = {"amend": "Correct a record", "actions": "Add an action", "decisions": "Record a decision",
              "outcomes": "Record an outcome", "complete": "Complete an action", "attach": "Record a tray alert",
              "dismiss": "Dismiss a tray alert", "new": "New case"}


def _context(request: Request) -> Context:
    state = request.app.state
    return Context(clients=state.clients, db=state.db, settings=state.settings, ip=client_ip(request))


async def keep_submission(request: Request):
    """For a web form sent after its session ended: keep it and send the browser to sign in, then back
    to it. None when there is nothing to keep (not a kept form, no session cookie, a live session)."""
    if request.method != "POST" or not KEPT_FORMS.match(request.url.path):
        return None
    if not request.headers.get("content-type", "").startswith(FORM_TYPES):
        return None
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None  # whose form it is cannot be known: nothing is kept
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - a body that is not a form: there is nothing to keep
        return None
    fields = [(k, v[:MAX_VALUE]) for k, v in form.multi_items() if isinstance(v, str)]
    dropped_file = any(isinstance(v, UploadFile) and v.filename for _k, v in form.multi_items())
    link = await saved_forms.keep(_context(request), token, request.url.path, fields, dropped_file)
    if link is None:
        return None
    return redirect("/sign-in?next=" + quote(f"/resume/{link}", safe=""))


def _generic_form(kept: dict) -> dict:
    """The parts of a kept form for resume.html: its text boxes, and what goes back unchanged."""
    texts, others = [], []
    for key, value in kept["fields"]:
        if key in TEXT_FIELDS:
            texts.append({"name": key, "label": TEXT_FIELDS[key], "value": value, "id": f"kept-{len(texts)}"})
        elif key != "csrf_token":
            others.append({"name": key, "value": value})
    return {"texts": texts, "others": others,
            "form_name": FORM_NAMES.get(kept["path"].rsplit("/", 1)[-1], "Your form")}


@router.get("/resume/{link}")
async def resume(request: Request, link: str, user: CurrentUser, ctx: Ctx):
    kept = await saved_forms.take(ctx, user, link)
    if kept is None:
        return error_page(request, 404, user=user)
    if kept["path"] == "/incidents/new":  # shown again whole, as its own page draws it
        values = incident_form.read_form(FormData(kept["fields"]))
        errors = [incident_form.CHOOSE_FILE_AGAIN] if kept["dropped_file"] else []
        return await incident_form.render_form(request, user, ctx, values, errors, notice=NOTICE)
    return render(request, "resume.html", user, path=kept["path"], notice=NOTICE,
                  dropped_file=kept["dropped_file"], **_generic_form(kept))
