"""The web UI's time-out and privacy screen in a real browser (Chromium + Playwright):

- the "Hide screen" control (button and Alt+Shift+B) blurs and covers the page, and any key or click
  brings it back, with no request to the server;
- a teacher writing slowly is warned before the session ends (a dialog with "Stay signed in" focused),
  and staying keeps the session; a session that ends all the same loses nothing: Save leads to the
  sign-in page, and after signing in the form comes back as it was sent.

Runs its own stack with a one-minute idle time-out (HAVEN_SESSION_IDLE_MINUTES=1), so the warning comes
30 seconds after the last activity and the end 30 seconds later. Debian's Chromium; never
`playwright install`.
"""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from .client import DEMO_PASSWORD
from .stack import Stack

TEACHER = "teacher@demo.haven.test"
IDLE_SECONDS = 60
WARNED_WITHIN_MS = (IDLE_SECONDS + 20) * 1000  # the warning is due 30 s after the last activity
ENDED_WITHIN_MS = (IDLE_SECONDS * 2 + 20) * 1000


@pytest.fixture(scope="module")
def short_stack():
    stack = Stack(env={"HAVEN_SESSION_IDLE_MINUTES": "1"})
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], errors


def sign_in(page: Page, base: str, email: str = TEACHER) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("School e-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")


def start_an_incident(page: Page, base: str, account: str) -> str:
    """The add-incident form with a pupil chosen and the account typed slowly; the chosen pupil's id."""
    page.goto(f"{base}/incidents/new")
    expect(page).to_have_title("Add incident — Haven")
    first = page.locator("#pupil_id input[type=radio]").first
    first.check()
    pupil_id = first.get_attribute("value")
    page.get_by_label("What happened").press_sequentially(account, delay=20)
    return pupil_id


def test_hide_screen_by_button_and_shortcut(short_stack, page):
    base = short_stack.base_url.rstrip("/")
    sign_in(page, base)
    page.goto(f"{base}/incidents/new")
    account = page.get_by_label("What happened")
    account.fill("Written before hiding.")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/api/v1/session/activity" not in r.url else None)

    overlay = page.locator("#blur-overlay")
    button = page.get_by_role("button", name=re.compile(r"^Hide screen"))
    expect(button).to_have_attribute("aria-keyshortcuts", "Alt+Shift+B")
    expect(overlay).to_be_hidden()
    button.click()
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Haven is hidden. Press any key or click to show it.")
    expect(page.locator("#blur-overlay-text")).to_be_focused()
    assert "blur" in page.locator("main").evaluate("m => getComputedStyle(m).filter")
    expect(page.locator("body")).to_have_class(re.compile(r"\bis-screen-hidden\b"))
    page.keyboard.press("x")
    expect(overlay).to_be_hidden()
    assert page.locator("main").evaluate("m => getComputedStyle(m).filter") == "none"
    expect(button).to_be_focused()  # back where the person was

    account.focus()
    page.keyboard.press("Alt+Shift+KeyB")
    expect(overlay).to_be_visible()
    expect(page.locator("#blur-overlay-text")).to_be_focused()
    page.keyboard.press("Shift")  # a lone modifier is not "back"
    expect(overlay).to_be_visible()
    page.keyboard.press("Alt+Shift+KeyB")
    expect(overlay).to_be_hidden()
    expect(account).to_be_focused()
    expect(account).to_have_value("Written before hiding.")  # the keys did nothing else

    page.keyboard.press("Alt+Shift+KeyB")
    expect(overlay).to_be_visible()
    page.mouse.click(5, 5)
    expect(overlay).to_be_hidden()
    assert requests == [], "hiding the screen asks nothing of the server"


def test_a_teacher_writing_slowly_is_warned_and_stays_signed_in(short_stack, page):
    base = short_stack.base_url.rstrip("/")
    sign_in(page, base)
    start_an_incident(page, base, "Amy came in upset. ")
    account = page.get_by_label("What happened")

    warning = page.get_by_role("alertdialog", name="You will be signed out soon")
    expect(warning).to_be_visible(timeout=WARNED_WITHIN_MS)
    expect(warning).to_contain_text("you will be signed out in")
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    expect(warning.get_by_role("button", name="Sign out")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/session/activity")
                              and r.request.method == "POST") as kept:
        stay.click()
    assert kept.value.status == 200
    expect(warning).to_be_hidden()
    expect(account).to_be_focused()  # back to the account, to go on writing

    left = page.request.get(f"{base}/api/v1/session/activity").json()["seconds_left"]
    assert left > IDLE_SECONDS - 20, left
    page.keyboard.type("She said it was about home.")
    page.get_by_role("link", name="My alerts").first.click()  # still signed in: no sign-in page
    expect(page).to_have_title("My alerts — Haven")


def test_escape_in_the_warning_stays_signed_in(short_stack, page):
    base = short_stack.base_url.rstrip("/")
    sign_in(page, base)
    page.goto(f"{base}/alerts")
    warning = page.get_by_role("alertdialog", name="You will be signed out soon")
    expect(warning).to_be_visible(timeout=WARNED_WITHIN_MS)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/session/activity")
                              and r.request.method == "POST"):
        page.keyboard.press("Escape")
    expect(warning).to_be_hidden()
    assert page.request.get(f"{base}/api/v1/session/activity").json()["seconds_left"] > IDLE_SECONDS - 20


def test_a_session_that_ends_while_a_teacher_writes_loses_nothing(short_stack, page):
    base = short_stack.base_url.rstrip("/")
    marker = f"timeout-marker-{uuid.uuid4().hex[:10]}"
    account = f"Amy said her step-dad shouts at night. {marker}"
    sign_in(page, base)
    pupil_id = start_an_incident(page, base, account)
    page.get_by_label("A disclosure or conversation with the child").check()
    page.get_by_label("Where it happened (optional)").fill("Year 4 cloakroom")

    ended = page.get_by_role("alertdialog", name="You have been signed out")
    expect(ended).to_be_visible(timeout=ENDED_WITHIN_MS)
    back = ended.get_by_role("button", name="Back to the page")
    expect(back).to_be_focused()
    back.click()
    expect(ended).to_be_hidden()
    expect(page.get_by_label("What happened")).to_have_value(account)

    page.get_by_role("button", name="Save incident").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fresume%2F[\w-]+$"))
    page.get_by_label("School e-mail address").fill(TEACHER)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/resume/[\w-]+$"))
    expect(page.get_by_role("status").filter(has_text="Your session ended before this was saved")).to_be_visible()
    expect(page.get_by_label("What happened")).to_have_value(account)
    expect(page.get_by_label("Where it happened (optional)")).to_have_value("Year 4 cloakroom")
    expect(page.get_by_label("A disclosure or conversation with the child")).to_be_checked()
    expect(page.locator(f"#pupil_id-{pupil_id}")).to_be_checked()
    resumed = page.url

    page.get_by_label("Safeguarding", exact=True).check()
    page.get_by_role("button", name="Save incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/\d+/recorded$"))
    page.get_by_role("link", name="View the incident").click()
    expect(page.locator(".account")).to_contain_text(marker)

    again = page.goto(resumed)  # given back once
    assert again.status == 404
    assert marker not in page.content()
