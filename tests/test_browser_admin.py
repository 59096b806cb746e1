"""An administrator adds a member of staff in a real browser (Debian's Chromium), and the new member of
staff sets a password from the e-mailed link and signs in. The whole stack runs (`stack` in
conftest.py); never `playwright install`."""
from __future__ import annotations

import email
import re
import uuid
from email import policy

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from .client import DEMO_PASSWORD, fresh_totp

ADMIN = "admin@demo.haven.test"  # an administrator and nothing else
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
               "resultTypes": ["violations"]}
ADMIN_PAGES = ["/admin", "/admin?status=all", "/admin/staff/new", "/admin/staff/import", "/admin/staff/{teacher}",
               "/admin/groups", "/admin/groups/new", "/admin/groups/{group}", "/admin/categories",
               "/admin/categories/new", "/admin/categories/{category}", "/admin/integrations"]


@pytest.fixture
def new_page(browser):
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, base: str, address: str, password: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("School e-mail address").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def give_code(page: Page, address: str) -> None:
    for _ in range(3):
        expect(page).to_have_url(re.compile(r"/sign-in/code"))
        page.get_by_label("Code from your authenticator app").fill(fresh_totp(address))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
        if "/sign-in/code" not in page.url:
            return
    pytest.fail("The administrator's TOTP code was refused three steps running")


def mailed_link(stack, address: str) -> str:
    found = stack.mail.wait_for(lambda m: address in m[0])
    assert found, f"no e-mail to {address}"
    body = email.message_from_string(found[-1][1], policy=policy.default).get_content()
    return re.search(r"https?://\S+/set-password/[A-Za-z0-9_-]+", body).group(0)


def test_an_administrator_adds_staff_who_set_a_password_from_the_email_and_sign_in(stack, new_page):
    base = stack.base_url.rstrip("/")
    address = f"new.teacher-{uuid.uuid4().hex[:8]}@demo.haven.test"

    admin = new_page()
    sign_in(admin, base, ADMIN, DEMO_PASSWORD)
    give_code(admin, ADMIN)
    admin.goto(f"{base}/admin")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Staff accounts")
    admin.get_by_role("link", name="Add a member of staff").click()
    admin.get_by_label("Full name").fill("Robin Newcombe")
    admin.get_by_label("School e-mail address").fill(address)
    admin.get_by_label("Job title (optional)").fill("Class Teacher, Year 3")
    expect(admin.get_by_label("Staff (records concerns)")).to_be_checked()
    admin.get_by_role("button", name="Add and send the link").click()
    expect(admin.get_by_role("status")).to_contain_text("e-mailed a link to set their password")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Robin Newcombe")
    # The administrator's pages name staff, never a pupil or a record.
    expect(admin.locator("a[href^='/pupils'], a[href^='/cases'], a[href^='/tray']")).to_have_count(0)

    link = mailed_link(stack, address)
    newcomer = new_page()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Set your password")
    assert violations(newcomer) == []
    newcomer.get_by_label("New password").fill("short")
    newcomer.get_by_label("Type it again").fill("short")
    newcomer.get_by_role("button", name="Set password").click()
    expect(newcomer.locator("#password-error")).to_contain_text("at least 12 characters")
    assert violations(newcomer) == []
    newcomer.get_by_label("New password").fill("maple kettle orbit lantern")
    newcomer.get_by_label("Type it again").fill("maple kettle orbit lantern")
    newcomer.get_by_role("button", name="Set password").click()
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Your password has been set")
    newcomer.get_by_role("link", name="Sign in").click()
    sign_in(newcomer, base, address, "maple kettle orbit lantern")
    expect(newcomer).not_to_have_url(re.compile(r"/sign-in"))
    expect(newcomer.locator(".site-header__name")).to_have_text("Robin Newcombe")

    # The link worked once.
    again = new_page()
    again.goto(link)
    expect(again.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    assert violations(again) == []


def violations(page: Page) -> list[str]:
    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in found]


def test_the_administrators_pages_pass_an_axe_scan(stack, new_page, api):
    """WCAG 2.2 A and AA at a desktop width and at 320 px, forms with their errors shown too."""
    dsl = api("dsl@demo.haven.test")
    ids = {"teacher": api("teacher@demo.haven.test").user["id"],
           "group": dsl.get("/api/v1/admin/groups").json()[0]["id"],
           "category": dsl.get("/api/v1/categories").json()[0]["id"]}
    base = stack.base_url.rstrip("/")
    page = new_page()
    sign_in(page, base, ADMIN, DEMO_PASSWORD)
    give_code(page, ADMIN)
    axe = Axe()
    problems = []

    def scan(where: str) -> None:
        for width in (1280, 320):
            page.set_viewport_size({"width": width, "height": 900})
            found = axe.run(page, options=AXE_OPTIONS).response["violations"]
            problems.extend(f"{where} at {width}px: {v['id']} {[n['target'] for n in v['nodes']][:3]}" for v in found)

    for path in ADMIN_PAGES:
        page.goto(base + path.format(**ids))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        scan(path)
    page.goto(base + "/admin/staff/new")
    page.get_by_role("button", name="Add and send the link").click()
    expect(page.locator(".error-summary")).to_be_visible()
    scan("/admin/staff/new with errors")
    page.goto(base + "/admin/groups/new")
    page.get_by_role("button", name="Add the group").click()
    expect(page.locator(".error-summary")).to_be_visible()
    scan("/admin/groups/new with errors")
    assert problems == []
