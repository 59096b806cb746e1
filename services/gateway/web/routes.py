"""The web UI: server-rendered pages over the same functions the JSON API uses.

Every page works without JavaScript; static/haven.js only makes the pickers quicker. A domain
error from a service becomes a calm page with the same status, never a stack of JSON; a form that
fails validation comes back with everything the member of staff typed still in it.
"""
from __future__ import annotations

import base64
import os
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.datastructures import UploadFile

from services.common.errors import HavenError, ValidationFailed

from .. import accounts
from ..deps import (SESSION_COOKIE, CurrentUser, Database, MaybeSignedIn, Rpc, Settings, SignedIn,
                    SignedInUser, client_ip)
from ..models import StaffMember
from ..routes.incidents import audited, record
from ..routes.session import check_second_factor, set_session_cookie, sign_in, sign_out

HERE = os.path.dirname(__file__)
SCHOOL_TIME = ZoneInfo("Europe/London")  # what staff mean by "9:30" when they type it
PUPIL_LIST_LIMIT = 100
ALERT_GROUP_NAMES = {"dsl": "The DSL team", "slt": "SLT (senior leadership)"}

router = APIRouter(include_in_schema=False)


# --- helpers shared by the pages -----------------------------------------------------------

def local_time(value) -> datetime | None:
    """An ISO timestamp from a service (UTC, "Z") as school-local time."""
    if not value:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(SCHOOL_TIME)


def format_when(value) -> str:
    when = local_time(value)
    return f"{when.day} {when:%B %Y, %H:%M}" if when else ""


def format_size(size) -> str:
    size = int(size or 0)
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")),
                      autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = format_when
    env.filters["iso"] = lambda v: local_time(v).isoformat() if v else ""
    env.filters["size"] = format_size
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, name: str, user: SignedInUser | None = None, status_code: int = 200,
           **context) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, {"user": user, **context}, status_code=status_code)
    # Pages can carry pupils' names and accounts: never keep them in a shared or browser cache.
    response.headers["Cache-Control"] = "no-store"
    return response


ERROR_TITLES = {
    403: ("You cannot open this page",
          "A record can be read by the member of staff who wrote it and by the DSL team (senior leaders "
          "can read records that are not about safeguarding). If you think you need to see this, speak "
          "to your DSL."),
    404: ("Page not found", "We could not find that. Check the link, or go back to the home page."),
}


def error_page(request: Request, status_code: int, message: str | None = None,
               user: SignedInUser | None = None) -> HTMLResponse:
    """A friendly page for an error. app.py can use it for HTTP errors on web paths too."""
    title, default = ERROR_TITLES.get(status_code, ("Something went wrong", None))
    if status_code >= 500:
        title = "Haven could not finish that"
    page_title = {403: "Not allowed", 404: "Not found"}.get(status_code, "Error")
    return render(request, "error.html", user, status_code, title=title, page_title=page_title,
                  message=message or default,
                  explanation=default if message and default and message != default else None)


def safe_next(target: str | None) -> str:
    """Only ever send people back to a page of ours (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def to_sign_in(request: Request) -> RedirectResponse:
    """Where an unauthenticated page request goes; a GET comes back to where it was after sign-in."""
    target = "/sign-in"
    if request.method == "GET" and request.url.path not in ("/", "/sign-in"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(here, safe="")
    return RedirectResponse(target, status_code=303)


def static_files() -> StaticFiles:
    return StaticFiles(directory=os.path.join(HERE, "static"))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def staff_names(session, school_id: int, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(StaffMember.id, StaffMember.name).where(
        StaffMember.id.in_(ids), StaffMember.school_id == school_id))
    return {row.id: row.name for row in rows}


async def who_was_alerted(db, user: SignedInUser, incident: dict) -> list[str]:
    names = await db.run(staff_names, user.school_id, incident.get("alert_user_ids") or [])
    return ([ALERT_GROUP_NAMES.get(g, g) for g in incident.get("alert_groups") or []]
            + [names.get(i, f"Member of staff #{i}") for i in incident.get("alert_user_ids") or []])


# --- signing in and out --------------------------------------------------------------------

@router.get("/sign-in")
async def sign_in_page(request: Request, user: MaybeSignedIn, next: str = "/", signed_out: bool = False):
    if user is not None:
        if user.second_factor_required:
            return redirect("/sign-in/code?next=" + quote(safe_next(next), safe=""))
        return redirect(safe_next(next))
    return render(request, "sign_in.html", next=safe_next(next), email="", errors=[],
                  notice="You have signed out." if signed_out else None)


@router.post("/sign-in")
async def sign_in_submit(request: Request, db: Database, cfg: Settings, email: str = Form(""),
                         password: str = Form(""), next: str = Form("/")):
    errors = []
    if not email.strip():
        errors.append({"field": "email", "message": "Enter your school e-mail address."})
    if not password:
        errors.append({"field": "password", "message": "Enter your password."})
    result = None
    if not errors:
        result = await db.run(sign_in, email[:254], password[:1000], client_ip(request))
        if result is None:
            errors.append({"field": "email", "message": "That e-mail and password do not match an active "
                                                        "account. Check them and try again."})
    if errors:
        return render(request, "sign_in.html", status_code=401 if result is None and email and password else 422,
                      next=safe_next(next), email=email, errors=errors, notice=None)
    token, payload = result
    target = safe_next(next)
    if payload["second_factor_required"]:
        target = "/sign-in/code?next=" + quote(target, safe="")
    response = redirect(target)
    set_session_cookie(response, token, cfg)
    return response


@router.get("/sign-in/code")
async def code_page(request: Request, user: SignedIn, next: str = "/"):
    if not user.second_factor_required:
        return redirect(safe_next(next))
    return render(request, "sign_in_code.html", user, next=safe_next(next), errors=[])


@router.post("/sign-in/code")
async def code_submit(request: Request, user: SignedIn, db: Database, code: str = Form(""),
                      next: str = Form("/")):
    if not user.second_factor_required:
        return redirect(safe_next(next))
    code = code.strip().replace(" ", "")
    if not code:
        message = "Enter the 6-digit code from your authenticator app."
    elif await db.run(check_second_factor, user.id, user.csrf_token, code[:10], client_ip(request)):
        return redirect(safe_next(next))
    else:
        message = ("That code is not right, or it has already been used. Wait for the next code in your "
                   "authenticator app and try again.")
    return render(request, "sign_in_code.html", user, status_code=401, next=safe_next(next),
                  errors=[{"field": "code", "message": message}])


@router.post("/sign-out")
async def sign_out_submit(user: SignedIn, db: Database):
    await db.run(sign_out, user.csrf_token, user.id)
    response = redirect("/sign-in?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- home and alerts -----------------------------------------------------------------------

@router.get("/")
async def home(request: Request, user: CurrentUser, rpc: Rpc):
    try:
        unread = await rpc.call("alerts", "list_alerts", user.actor_token, True, 100)
        recent = await rpc.call("alerts", "list_alerts", user.actor_token, False, 10) if user.is_dsl else []
        problem = None
    except HavenError as exc:
        unread, recent, problem = [], [], exc.message
    return render(request, "home.html", user, unread_count=len(unread), alerts=recent, problem=problem)


@router.get("/alerts")
async def alerts_page(request: Request, user: CurrentUser, rpc: Rpc):
    try:
        alerts = await rpc.call("alerts", "list_alerts", user.actor_token, False, 100)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "alerts.html", user, alerts=alerts)


@router.post("/alerts/{alert_id}/read")
async def alert_read(request: Request, alert_id: int, user: CurrentUser, rpc: Rpc):
    try:
        await rpc.call("alerts", "mark_alert_read", user.actor_token, alert_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/alerts#alert-{alert_id}")


# --- recording an incident -----------------------------------------------------------------

def to_utc_iso(value: str) -> str:
    """A datetime-local value is school time; anything we cannot read goes on for the service to
    explain in its own words."""
    value = (value or "").strip()
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=SCHOOL_TIME)
    return when.astimezone(timezone.utc).isoformat()


def _ints(values) -> list[int]:
    return [int(v) for v in values if isinstance(v, str) and v.strip().isdigit()]


def _form_input(form) -> dict:
    """What the member of staff typed, as strings and lists, for both the service and a re-render."""
    return {
        "pupil_id": (form.get("pupil_id") or "").strip(),
        "pupil_q": (form.get("pupil_q") or "").strip()[:100],
        "occurred_at": (form.get("occurred_at") or "").strip(),
        "account": form.get("account") or "",
        "category_ids": _ints(form.getlist("category_ids")),
        "urgent": form.get("urgent") in ("1", "on", "true"),
        "alert_groups": [g for g in form.getlist("alert_groups") if isinstance(g, str)],
        "alert_user_ids": _ints(form.getlist("alert_user_ids")),
    }


def _now_local_input() -> str:
    return datetime.now(SCHOOL_TIME).strftime("%Y-%m-%dT%H:%M")


def _pupil_option_label(p: dict) -> str:
    where = ", ".join(x for x in (p.get("year_group"), p.get("form")) if x)
    return f"{p['name']} — {where}" if where else p["name"]


async def _render_form(request, user, rpc, db, values: dict, errors: list[dict] | None = None,
                       status_code: int = 200, problem: str | None = None):
    try:
        pupils = await rpc.call("incidents", "search_pupils", user.actor_token, values["pupil_q"],
                                PUPIL_LIST_LIMIT)
        categories = await rpc.call("incidents", "list_categories", user.actor_token)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)

    def find_staff(session):
        return [{"id": s.id, "name": s.name, "job_title": s.job_title}
                for s in accounts.search_staff(session, user.school_id, "", 100) if s.id != user.id]
    staff = await db.run(find_staff)
    errors = errors or []
    by_field: dict[str, str] = {}
    for e in errors:
        by_field.setdefault(e.get("field") or "", e.get("message") or "")
    first_category = categories[0]["id"] if categories else None
    anchors = {"pupil_id": "pupil_id", "occurred_at": "occurred_at", "account": "account",
               "category_ids": f"category-{first_category}", "urgent": "urgent", "alert_groups": "alert-dsl",
               "alert_user_ids": "alert_user_ids", "file": "file", "filename": "file"}
    summary = [{"href": "#" + anchors[e["field"]] if e.get("field") in anchors else None,
                "message": e.get("message")} for e in errors]
    dsl_categories = [c["name"] for c in categories if "dsl" in (c.get("default_alert_groups") or [])]
    for p in pupils:
        p["label"] = _pupil_option_label(p)
    return render(request, "incident_form.html", user, status_code, values=values, pupils=pupils,
                  categories=categories, staff=staff, errors=by_field, summary=summary,
                  dsl_categories=dsl_categories, problem=problem, group_names=ALERT_GROUP_NAMES)


@router.get("/incidents/new")
async def new_incident(request: Request, user: CurrentUser, rpc: Rpc, db: Database):
    values = {"pupil_id": "", "pupil_q": "", "occurred_at": _now_local_input(), "account": "",
              "category_ids": [], "urgent": False, "alert_groups": [], "alert_user_ids": []}
    return await _render_form(request, user, rpc, db, values)


async def _read_upload(form, cfg) -> tuple[UploadFile | None, bytes, str | None]:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, b"", None
    content = await upload.read(cfg.max_upload_bytes + 1)
    if len(content) > cfg.max_upload_bytes:
        return upload, b"", (f"The file is larger than {cfg.max_upload_bytes // (1024 * 1024)} MB. "
                             "Split it or reduce its size, then choose it again.")
    if not content:
        return upload, b"", "The file is empty. Choose the file to attach again."
    return upload, content, None


@router.post("/incidents/new")
async def new_incident_submit(request: Request, user: CurrentUser, rpc: Rpc, db: Database, cfg: Settings):
    form = await request.form()
    values = _form_input(form)
    if form.get("action") == "find":  # the pupil search without JavaScript: same form, filtered list
        return await _render_form(request, user, rpc, db, values)

    upload, content, file_problem = await _read_upload(form, cfg)
    if file_problem:
        # Checked before recording, so a rejected file never leaves a record without its attachment.
        return await _render_form(request, user, rpc, db, values, [{"field": "file", "message": file_problem}],
                                  status_code=422)
    pupil_id = values["pupil_id"]
    body = {"pupil_id": int(pupil_id) if pupil_id.isdigit() else None,
            "occurred_at": to_utc_iso(values["occurred_at"]), "account": values["account"],
            "category_ids": values["category_ids"], "urgent": values["urgent"],
            "alert_groups": values["alert_groups"], "alert_user_ids": values["alert_user_ids"]}
    try:
        incident = await record(user, rpc, db, body)
    except ValidationFailed as exc:
        errors = exc.errors
        if upload is not None:
            errors = [*errors, {"field": "file", "message": "Choose the file again: for your security, "
                                                            "browsers do not keep a chosen file."}]
        return await _render_form(request, user, rpc, db, values, errors, status_code=422)
    except HavenError as exc:
        return await _render_form(request, user, rpc, db, values, status_code=exc.status_code,
                                  problem=f"{exc.message} Your account has not been saved yet; it is still "
                                          "in the form below.")
    target = f"/incidents/{incident['id']}/recorded"
    if upload is not None:
        try:
            await rpc.call("documents", "store_document", user.actor_token, incident["id"], upload.filename,
                           upload.content_type or "application/octet-stream",
                           base64.b64encode(content).decode(), timeout=60)
        except HavenError:
            target += "?file=failed"
    return redirect(target)


async def _read_incident(request, user, rpc, db, incident_id: int) -> dict:
    return await audited(db, user, request, "read_incident", "incident", incident_id,
                         lambda: rpc.call("incidents", "get_incident", user.actor_token, incident_id))


@router.get("/incidents/{incident_id}/recorded")
async def incident_recorded(request: Request, incident_id: int, user: CurrentUser, rpc: Rpc, db: Database,
                            file: str = ""):
    try:
        incident = await _read_incident(request, user, rpc, db, incident_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "incident_recorded.html", user, incident=incident,
                  alerted=await who_was_alerted(db, user, incident), file_failed=file == "failed")


def _may_attach(user: SignedInUser, incident: dict) -> bool:
    # Mirrors the incidents service's can_attach_to_incident; the service re-checks.
    return user.is_dsl or incident["recorded_by"]["id"] == user.id


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: int, user: CurrentUser, rpc: Rpc, db: Database,
                        alert: int | None = None, attached: str = ""):
    try:
        incident = await _read_incident(request, user, rpc, db, incident_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    if alert is not None:
        # Opening the record from an alert is the read receipt the DSL relies on.
        try:
            await rpc.call("alerts", "mark_alert_read", user.actor_token, alert)
        except HavenError:
            pass
    try:
        documents, documents_problem = await rpc.call("documents", "list_documents", user.actor_token,
                                                      incident_id), None
    except HavenError as exc:
        documents, documents_problem = [], exc.message
    return render(request, "incident.html", user, incident=incident, documents=documents,
                  documents_problem=documents_problem, alerted=await who_was_alerted(db, user, incident),
                  may_attach=_may_attach(user, incident), attached=attached, file_error=None)


@router.post("/incidents/{incident_id}/documents")
async def attach_document(request: Request, incident_id: int, user: CurrentUser, rpc: Rpc, db: Database,
                          cfg: Settings):
    form = await request.form()
    upload, content, problem = await _read_upload(form, cfg)
    if upload is None:
        problem = "Choose the file to attach."
    if problem is None:
        try:
            await rpc.call("documents", "store_document", user.actor_token, incident_id, upload.filename,
                           upload.content_type or "application/octet-stream",
                           base64.b64encode(content).decode(), timeout=60)
            return redirect(f"/incidents/{incident_id}?attached=1#documents")
        except ValidationFailed as exc:
            problem = " ".join(e.get("message", "") for e in exc.errors) or exc.message
        except HavenError as exc:
            return error_page(request, exc.status_code, exc.message, user)
    try:
        incident = await _read_incident(request, user, rpc, db, incident_id)
        documents = await rpc.call("documents", "list_documents", user.actor_token, incident_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "incident.html", user, status_code=422, incident=incident, documents=documents,
                  documents_problem=None, alerted=await who_was_alerted(db, user, incident),
                  may_attach=_may_attach(user, incident), attached="", file_error=problem)


@router.get("/favicon.ico")
async def favicon():
    return Response(status_code=204)
