"""Every web page passes an axe-core scan (WCAG 2.0, 2.1 and 2.2, levels A and AA), at a desktop width and
at 320 px (WCAG 1.4.10: reflow), with Chromium + Playwright.

The pages are the app's own GET routes that answer HTML, read from the app itself: a page that is added
without an entry in PAGES below fails `test_every_page_is_listed`, so no page escapes the scan. Each
entry says who opens it (a demo account, signed in through the web form like a person) and where, with
real demo records in place of the path's ids. A few states that are not routes of their own are
scanned too: an error page, the add-incident form after a failed save, the hidden screen and the
time-out warning.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from fastapi.routing import APIRoute, iter_route_contexts
from playwright.sync_api import Page, expect

from services.common.db import make_engine, session_factory, transaction

from .client import DEMO_PASSWORD, Api, fresh_totp

AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
               "resultTypes": ["violations"]}
WIDTHS = (1280, 320)
TEACHER = "teacher@demo.haven.test"
DSL = "dsl@demo.haven.test"

# Route → the visits that scan it: (who, path). Who: "anonymous", "teacher", "dsl" (signed in fully, with
# the TOTP code; also the demo school's administrator), "dsl_halfway" (password given, code not yet),
# "enrolling" (a new senior leader at their first sign-in, before setting up a second factor). The
# {placeholders} are filled with demo records made by `records` below.
PAGES: dict[str, list[tuple[str, str]]] = {
    "/sign-in": [("anonymous", "/sign-in"), ("anonymous", "/sign-in?signed_out=1")],
    "/sign-in/code": [("dsl_halfway", "/sign-in/code")],
    "/": [("teacher", "/"), ("dsl", "/")],
    "/dashboard": [("dsl", "/dashboard")],
    "/alerts": [("teacher", "/alerts"), ("dsl", "/alerts")],
    "/alerts/preferences": [("teacher", "/alerts/preferences")],
    "/alerts/failed": [("dsl", "/alerts/failed")],
    "/admin/alerts": [("dsl", "/admin/alerts")],
    "/admin/dead-letters": [("dsl", "/admin/dead-letters")],
    "/actions": [("teacher", "/actions"), ("teacher", "/actions?show=all")],
    "/incidents/new": [("teacher", "/incidents/new")],
    "/incidents/{incident_id}": [("teacher", "/incidents/{incident}"), ("dsl", "/incidents/{incident}")],
    "/incidents/{incident_id}/recorded": [("teacher", "/incidents/{incident}/recorded")],
    "/incidents/{incident_id}/amend": [("teacher", "/incidents/{incident}/amend"),
                                       ("teacher", "/incidents/{incident}/amend?field=account")],
    "/pupils": [("dsl", "/pupils"), ("dsl", "/pupils?q=a")],
    "/pupils/{pupil_id}": [("dsl", "/pupils/{pupil}")],
    "/cases": [("dsl", "/cases"), ("dsl", "/cases?status=all")],
    "/cases/new": [("dsl", "/cases/new"), ("dsl", "/cases/new?pupil_id={pupil}")],
    "/cases/{case_id}": [("dsl", "/cases/{case}")],
    "/tray": [("dsl", "/tray"), ("dsl", "/tray?status=all")],
    "/roll/import": [("dsl", "/roll/import")],
    "/resume/{link}": [("teacher", "/resume/{resume}")],
    "/sign-in/enrol": [("enrolling", "/sign-in/enrol")],
    "/step-up": [("dsl", "/step-up")],
    "/account/security": [("teacher", "/account/security"), ("dsl", "/account/security")],
    "/account/schools": [("teacher", "/account/schools")],
    "/set-password/{token}": [("anonymous", "/set-password/{password_link}")],
    "/audit": [("dsl", "/audit")],
    "/admin": [("dsl", "/admin")],
    "/admin/staff/new": [("dsl", "/admin/staff/new")],
    "/admin/staff/import": [("dsl", "/admin/staff/import")],
    "/admin/staff/{user_id}": [("dsl", "/admin/staff/{teacher}")],
    "/admin/groups": [("dsl", "/admin/groups")],
    "/admin/groups/new": [("dsl", "/admin/groups/new")],
    "/admin/groups/{group_id}": [("dsl", "/admin/groups/{group}")],
    "/admin/categories": [("dsl", "/admin/categories")],
    "/admin/categories/new": [("dsl", "/admin/categories/new")],
    "/admin/categories/{category_id}": [("dsl", "/admin/categories/{category}")],
    "/admin/integrations": [("dsl", "/admin/integrations")],
}
# Answers that are pages but not routes of their own: (who, path, status).
OTHER_VISITS = [("teacher", "/incidents/999999999", 404), ("teacher", "/tray", 403)]


def web_pages() -> set[str]:
    """The app's GET routes that answer with a page (not the JSON API, its documents, the orchestrator's
    probes or static files)."""
    from services.common.testing import TEST_SECRETS_KEY, key_settings
    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings

    app = create_app(GatewaySettings(env="test", cookie_secure=False, **key_settings("gateway"),
                                     secrets_key=TEST_SECRETS_KEY,
                                     gateway_database_url="postgresql://postgres@127.0.0.1:5432/postgres"))
    app.state.db.engine.dispose()  # made, never connected
    return {r.path for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)
            and "GET" in r.methods
            and not r.path.startswith(("/api/", "/healthz/")) and r.path != "/favicon.ico"}  # probes: JSON


def test_every_page_is_listed():
    pages = web_pages()
    assert pages - set(PAGES) == set(), "web pages the accessibility scan does not visit: add them to PAGES"
    assert set(PAGES) - pages == set(), "PAGES lists pages the app no longer has"


# --- the demo records and the people ----------------------------------------------------------------

@pytest.fixture(scope="module")
def records(stack, _signed_in) -> dict[str, int | str]:
    for email in (TEACHER, DSL):  # the run's signed-in clients (conftest's `api`), kept for the module
        if email not in _signed_in:
            _signed_in[email] = Api(stack.base_url).login(email)
    teacher, dsl = _signed_in[TEACHER], _signed_in[DSL]
    pupil = teacher.get("/api/v1/pupils", params={"q": "", "limit": 5}).json()[0]
    categories = {c["name"]: c["id"] for c in teacher.get("/api/v1/categories").json()}
    r = teacher.post("/api/v1/incidents", json={
        "pupil_id": pupil["id"], "occurred_at": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
        "account": "Seen crying at break; said she was tired. Tom Archer, class teacher.",
        "category_ids": [categories["Safeguarding"]], "record_type": "observation", "alert_groups": ["dsl"]})
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    r = teacher.post(f"/api/v1/incidents/{incident}/actions", json={"description": "Spoke to her mum at pick-up."})
    assert r.status_code == 201, r.text
    r = dsl.post("/api/v1/cases", json={"pupil_id": pupil["id"], "title": "Home worries",
                                        "owner_user_id": dsl.user["id"], "incident_ids": [incident]})
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    # A pending tray alert, so the tray's form (and its pupil list) is scanned too.
    made = dsl.post("/api/v1/integrations", json={"name": f"Monitor {uuid.uuid4().hex[:6]}"}).json()
    upn = dsl.get(f"/api/v1/pupils/{pupil['id']}").json().get("upn") or "unknown"
    r = httpx.post(f"{stack.base_url}/api/v1/tray/alerts", headers={"Authorization": f"Bearer {made['api_key']}"},
                   json={"external_id": f"a11y-{uuid.uuid4().hex[:10]}", "pupil_identifier": upn, "severity": "high",
                         "summary": "Searched for self-harm methods.", "occurred_at": datetime.now(timezone.utc)
                         .strftime("%Y-%m-%dT%H:%M:%SZ")}, timeout=30)
    assert r.status_code in (200, 201, 202), r.text
    group = dsl.get("/api/v1/admin/groups").json()[0]["id"]
    return {"pupil": pupil["id"], "incident": incident, "case": case, "teacher": teacher.user["id"],
            "category": categories["Behaviour"],
            "group": group, "password_link": password_link(stack)}


def _in_gateway_database(stack, work):
    engine = make_engine(stack.databases["gateway"])
    try:
        with transaction(session_factory(engine)) as session:
            return work(session)
    finally:
        engine.dispose()


def password_link(stack) -> str:
    """A set-password link for a new member of staff (as the administrator's e-mail would carry)."""
    from services.gateway import accounts
    from services.gateway.admin import links

    def make(session):
        user = accounts.save_staff_member(session, school_id=1, name="Nia Grant",
                                          email=f"new-{uuid.uuid4().hex[:8]}@demo.haven.test", roles=["staff"])
        return links.new_link(session, user, created_by=None)
    return _in_gateway_database(stack, make)


ENROLLING = f"enrolling-{uuid.uuid4().hex[:8]}@demo.haven.test"


def enrolling_account(stack) -> None:
    """A senior leader with a password and no second factor yet: their first sign-in asks them to set one up."""
    from services.gateway import accounts

    _in_gateway_database(stack, lambda session: accounts.save_staff_member(
        session, school_id=1, name="Rhys Vaughan", email=ENROLLING, roles=["slt"], password=DEMO_PASSWORD))


def kept_form(stack, user_id: int) -> str:
    """A form kept across a time-out, for the resume page (made directly: no need to wait for one)."""
    import base64

    from services.gateway.usecases.saved_forms import save_for_test

    return _in_gateway_database(stack, lambda session: save_for_test(
        session, base64.b64decode(stack.env["HAVEN_SECRETS_KEY"]), user_id, "/incidents/5/amend",
        [("csrf_token", "x"), ("field", "account"), ("new_value", "The corrected account."),
         ("reason", "The wrong day.")]))


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("School e-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def people(stack, browser):
    """One browser context per person, signed in once for the whole scan (a TOTP code is good once)."""
    base = stack.base_url.rstrip("/")
    contexts = {}
    enrolling_account(stack)
    for who in ("anonymous", "teacher", "dsl", "dsl_halfway", "enrolling"):
        context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        if who == "enrolling":
            sign_in(page, base, ENROLLING)
            expect(page).to_have_url(re.compile(r"/sign-in/enrol"))
        elif who == "teacher":
            sign_in(page, base, TEACHER)
            expect(page).to_have_url(f"{base}/")
        elif who.startswith("dsl"):
            sign_in(page, base, DSL)
            expect(page).to_have_url(re.compile(r"/sign-in/code"))
            if who == "dsl":
                page.get_by_label("Code from your authenticator app").fill(fresh_totp(DSL))
                page.get_by_role("button", name="Continue").click()
                expect(page).to_have_url(f"{base}/")
        contexts[who] = page
    yield contexts
    for page in contexts.values():
        page.context.close()


def violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each: rule, impact, where."""
    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in found]


def scan(page: Page, base: str, where, status: int = 200) -> dict[int, list[str]]:
    """Violations by width; `where()` gives the path for each visit (a kept form is given back only once)."""
    found = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = where()
        response = page.goto(base + path)
        assert response is not None and response.headers.get("content-type", "").startswith("text/html"), path
        assert response.status == status, f"{path}: {response.status}, not the page to scan"
        assert "/sign-in" not in page.url or path.startswith("/sign-in"), f"{path}: sent to sign in"
        problems = violations(page)
        if problems:
            found[width] = problems
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return found


def _visits():
    for visits in PAGES.values():
        for who, path in visits:
            yield pytest.param(who, path, 200, id=f"{who}:{path}")
    for who, path, status in OTHER_VISITS:
        yield pytest.param(who, path, status, id=f"{who}:{path}")


@pytest.mark.parametrize(("who", "path", "status"), list(_visits()))
def test_page_has_no_accessibility_violations(stack, people, records, who, path, status):
    base = stack.base_url.rstrip("/")
    page = people[who]
    def where() -> str:
        if "{resume}" in path:
            records["resume"] = kept_form(stack, records["teacher"])  # a kept form is given back once
        return path.format(**records)

    found = scan(page, base, where, status)
    assert not found, "\n".join(f"{path} at {width} px: {p}" for width, problems in found.items() for p in problems)


# --- states that are not pages of their own ----------------------------------------------------------

def test_the_incident_form_after_a_failed_save(stack, people):
    base = stack.base_url.rstrip("/")
    page = people["teacher"]
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/incidents/new")
        page.get_by_role("button", name="Save incident").click()
        expect(page.locator(".error-summary")).to_be_focused()
        assert violations(page) == [], f"at {width} px"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_the_hidden_screen_and_the_time_out_warning(stack, people):
    base = stack.base_url.rstrip("/")
    page = people["teacher"]
    page.goto(f"{base}/incidents/new")
    page.get_by_role("button", name=re.compile("^Hide screen")).click()
    expect(page.locator("#blur-overlay")).to_be_visible()
    assert violations(page) == []
    page.keyboard.press("x")
    expect(page.locator("#blur-overlay")).to_be_hidden()
    # The warning as it would open (the real wait is in test_browser_session.py).
    page.evaluate("document.getElementById('session-dialog').showModal()")
    expect(page.get_by_role("alertdialog")).to_be_visible()
    assert violations(page) == []
    page.evaluate("document.getElementById('session-dialog').close()")


def test_the_scan_finds_what_it_looks_for(stack, people):
    """The scan can fail: the violation the issue's audit found (aria-expanded on a radio) is reported."""
    base = stack.base_url.rstrip("/")
    page = people["teacher"]
    page.goto(f"{base}/incidents/new")
    assert violations(page) == []
    page.evaluate("document.getElementById('dsl_informed-yes').setAttribute('aria-expanded', 'false')")
    assert any(v.startswith("aria-allowed-attr") for v in violations(page))


def test_pupil_lists_show_year_and_form_at_320_px(stack, people):
    """At 320 px (and so at 400 % zoom of 1280 px) each child's line wraps inside the list: nothing cut off."""
    base = stack.base_url.rstrip("/")
    page = people["teacher"]
    page.set_viewport_size({"width": 320, "height": 900})
    try:
        page.goto(f"{base}/incidents/new")
        labels = page.locator("#pupil_id label")
        assert labels.count() > 5
        assert re.match(r"^(Reception|Year \S+) · \S+ — ", labels.first.inner_text()), labels.first.inner_text()
        cut = page.evaluate("""() => [...document.querySelectorAll('#pupil_id label')].filter(l => {
            const box = l.getBoundingClientRect(), list = l.closest('.pupil-choices__list').getBoundingClientRect();
            return l.scrollWidth > l.clientWidth + 1 || box.right > list.right + 1 || box.right > window.innerWidth;
        }).map(l => l.textContent)""")
        assert cut == []
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    finally:
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
