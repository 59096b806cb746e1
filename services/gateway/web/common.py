"""What every page shares: rendering, the error page, times in school time, form errors, staff names."""
from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.common.clock import SCHOOL_TIME  # what staff mean by "9:30" when they type it
from services.common.errors import HavenError, ValidationFailed
from ..deps import SignedInUser
from ..usecases import Context, staff
from . import labels

HERE = os.path.dirname(__file__)
ALERT_GROUP_NAMES = labels.ALERT_GROUPS
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

# --- times -------------------------------------------------------------------------------------

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

def format_day(value) -> str:
    """A date ("2026-03-01") or a timestamp, as "1 March 2026"."""
    if not value:
        return ""
    if isinstance(value, str) and len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
    else:
        day = local_time(value)
    return f"{day.day} {day:%B %Y}"

def format_size(size) -> str:
    size = int(size or 0)
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"

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

def to_local_input(value) -> str:
    """A service's UTC timestamp as a datetime-local value in school time."""
    when = local_time(value)
    return when.strftime("%Y-%m-%dT%H:%M") if when else ""

def now_local_input() -> str:
    return datetime.now(SCHOOL_TIME).strftime("%Y-%m-%dT%H:%M")

# --- rendering -----------------------------------------------------------------------------------

def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")),
                      autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = format_when
    env.filters["day"] = format_day
    env.filters["iso"] = lambda v: local_time(v).isoformat() if v else ""
    env.filters["size"] = format_size
    env.globals["labels"] = labels
    env.globals["group_names"] = ALERT_GROUP_NAMES
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
               user: SignedInUser | None = None, explain: bool = True) -> HTMLResponse | RedirectResponse:
    """A friendly page for an error. app.py uses it for HTTP errors on web paths too. `explain`
    adds the general explanation (who may read a record) under a specific message. A service's 401 for
    someone signed in is a safeguarding record asking for a recent second factor (StepUpRequired): the
    step-up page, then back here."""
    if status_code == 401 and user is not None and not user.second_factor_required:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/step-up?next=" + quote(safe_next(here) if request.method == "GET" else "/", safe=""))
    title, default = ERROR_TITLES.get(status_code, ("Something went wrong", None))
    if not explain and message:
        default = None
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

async def to_sign_in(request: Request) -> RedirectResponse:
    """Where an unauthenticated page request goes; a GET comes back to where it was after sign-in, and
    a form sent after its session ended is kept and comes back after sign-in (web/resume.py)."""
    if request.method == "POST":
        from .resume import keep_submission  # resume draws its pages with this module's helpers
        kept = await keep_submission(request)
        if kept is not None:
            return kept
    target = "/sign-in"
    if request.method == "GET" and request.url.path not in ("/", "/sign-in"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(here, safe="")
    return RedirectResponse(target, status_code=303)

def static_files() -> StaticFiles:
    return StaticFiles(directory=os.path.join(HERE, "static"))

def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)

# --- form errors -----------------------------------------------------------------------------------

class FormErrors:
    """A service's [{field, message}] as the page needs them: the summary at the top (each linking to
    its field) and one message beside each field."""

    def __init__(self, errors: list[dict] | None = None, anchors: dict[str, str] | None = None):
        self.items = list(errors or [])
        self.by_field: dict[str, str] = {}
        for e in self.items:
            self.by_field.setdefault(str(e.get("field") or ""), e.get("message") or "")
        self.anchors = anchors or {}

    def anchor(self, field: str) -> str | None:
        if field in self.anchors:
            return self.anchors[field]
        return field.replace(".", "-") if field else None

    @property
    def summary(self) -> list[dict]:
        return [{"href": "#" + a if (a := self.anchor(str(e.get("field") or ""))) else None,
                 "message": e.get("message")} for e in self.items]

    def get(self, field: str, default=None):
        return self.by_field.get(field, default)

    def __getattr__(self, field: str):
        if field.startswith("_"):
            raise AttributeError(field)
        return self.by_field.get(field)

    def __bool__(self) -> bool:
        return bool(self.items)

def form_text(form, name: str, limit: int = 100_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""

def ints(values) -> list[int]:
    return [int(v) for v in values if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) < 10]

def as_id(value) -> int | None:
    value = (value or "").strip() if isinstance(value, str) else ""
    return int(value) if value.isdigit() and len(value) < 10 else None

# --- staff and categories --------------------------------------------------------------------------

async def staff_list(ctx: Context, user) -> list[dict]:
    """The school's staff for the pickers (who to alert, assign, own a case)."""
    found = await staff.search(ctx, user, "", 100)
    return [{**s, "is_dsl": "dsl" in s["roles"]} for s in found]

async def who_was_alerted(ctx: Context, user: SignedInUser, incident: dict) -> list[str]:
    names = await staff.names(ctx, user, incident.get("alert_user_ids") or [])
    return ([ALERT_GROUP_NAMES.get(g, g) for g in incident.get("alert_groups") or []]
            + [names.get(i, f"Member of staff #{i}") for i in incident.get("alert_user_ids") or []])

def category_tree(categories: list[dict]) -> list[dict]:
    """Categories in tree order, each with its `depth`: a parent, then its children."""
    by_parent: dict[int | None, list[dict]] = {}
    ids = {c["id"] for c in categories}
    for c in categories:
        parent = c.get("parent_id") if c.get("parent_id") in ids else None
        by_parent.setdefault(parent, []).append(c)
    ordered: list[dict] = []

    def walk(parent, depth, seen):
        for c in sorted(by_parent.get(parent, []), key=lambda c: c["name"].lower()):
            if c["id"] in seen:
                continue
            ordered.append({**c, "depth": depth,
                            "colour": c.get("colour") if COLOUR.match(str(c.get("colour") or "")) else None})
            walk(c["id"], depth + 1, seen | {c["id"]})
    walk(None, 0, frozenset())
    return ordered

def pupil_label(p: dict) -> str:
    """A pupil as the pickers show them: enough to tell two children with the same name apart. Year and
    form come first, so a narrow screen that wraps the line still shows them beside the name."""
    where = " · ".join(x for x in (p.get("year_group"), p.get("form")) if x)
    label = f"{where} — {p.get('name') or ''}" if where else p.get("name") or ""
    if p.get("legal_name") and p["legal_name"] != p.get("name"):
        label += f" (legal name {p['legal_name']})"
    return label


async def save_staff_list(request: Request, user, save) -> tuple[list[int], HTMLResponse | None]:
    """A DSL control's whole list of staff (the checkboxes `user_ids`), saved by `await save(ids)`: the
    ids, and the error page to answer with when they could not be saved (None when they were)."""
    form = await request.form()
    ids = [as_id(str(v)[:12]) for v in form.getlist("user_ids")[:200]]
    if any(i is None for i in ids):
        return ids, error_page(request, 422, "Choose members of staff from the list.", user)
    try:
        await save(ids)
    except ValidationFailed as exc:
        return ids, error_page(request, 422, " ".join(e.get("message", "") for e in exc.errors) or exc.message, user)
    except HavenError as exc:
        return ids, error_page(request, exc.status_code, exc.message, user)
    return ids, None
