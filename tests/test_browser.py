"""The web UI in a real browser: a teacher records a concern, the DSL is alerted and reads it, and
another teacher cannot.

Runs against the whole stack (`stack` in conftest.py) with Debian's Chromium; never
`playwright install`.
"""
from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from .client import fresh_totp

PASSWORD = "haven-demo"
TEACHER = "teacher@demo.haven.test"
TEACHER2 = "teacher2@demo.haven.test"
DSL = "dsl@demo.haven.test"
ALERT_WAIT_SECONDS = 30


@pytest.fixture
def new_page(browser):
    """A fresh browser context (its own cookies) per person."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/sign-in")
    expect(page).to_have_title("Sign in — Haven")
    page.get_by_label("School e-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def give_second_factor(page: Page) -> None:
    """A code is accepted once per 30 s step per user: fresh_totp waits for a step no other test
    in this run has used; if the code is refused all the same, try once more with the next step."""
    for attempt in range(3):
        expect(page).to_have_url(re.compile(r"/sign-in/code"))
        code_box = page.get_by_label("Code from your authenticator app")
        expect(code_box).to_have_attribute("autocomplete", "one-time-code")
        expect(code_box).to_have_attribute("inputmode", "numeric")
        code_box.fill(fresh_totp(DSL))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
        if "/sign-in/code" not in page.url:
            return
        expect(page.locator("#code-error")).to_contain_text("not right")
    pytest.fail("The DSL's TOTP code was refused three steps running")


def test_teacher_records_an_incident_and_the_dsl_reads_it(stack, new_page):
    base = stack.base_url.rstrip("/")
    marker = f"browser-marker-{uuid.uuid4().hex}"
    account = f"Observation in the playground at 10:40.\nThe child said: \"{marker}\".\nTom Archer, class teacher."
    attachment = f"notes for {marker}".encode()

    # --- the teacher records a concern --------------------------------------------------
    teacher = new_page()
    sign_in(teacher, base, TEACHER)
    expect(teacher).to_have_url(f"{base}/")
    expect(teacher.locator("header")).to_contain_text("Tom Archer")
    teacher.get_by_role("link", name="Add incident").first.click()
    expect(teacher).to_have_url(f"{base}/incidents/new")
    expect(teacher).to_have_title("Add incident — Haven")

    pupils = teacher.locator("#pupil_id label")
    all_labels = pupils.all_inner_texts()
    assert len(all_labels) > 5, all_labels
    label = all_labels[0]
    where, name = label.split(" — ")
    assert where, "each pupil is listed with year group and form, before the name"
    # The search box asks the server and narrows the list.
    teacher.get_by_label("Search by name or UPN").fill(name)
    teacher.wait_for_function(
        "([n, total]) => { const o = [...document.querySelectorAll('#pupil_id label')];"
        " return o.length > 0 && o.length < total && o.every(x => x.textContent.includes(n)); }",
        arg=[name, len(all_labels)])
    teacher.locator("#pupil_id").get_by_label(label, exact=True).check()
    expect(teacher.locator("#occurred_at")).not_to_have_value("")

    teacher.get_by_label("Safeguarding", exact=True).check()
    expect(teacher.get_by_label("The DSL team")).to_be_checked()  # suggested for a safeguarding concern
    expect(teacher.locator("#dsl-suggestion")).to_contain_text("Safeguarding")
    teacher.get_by_label("This is urgent").check()
    teacher.get_by_label("Named members of staff (optional)").select_option(label="Deputy Dee Lowe — Deputy DSL")

    # An empty account comes back with the error beside the field, and nothing typed is lost.
    with teacher.expect_response(lambda r: r.url.endswith("/incidents/new") and r.request.method == "POST") as sent:
        teacher.get_by_role("button", name="Save incident").click()
    assert sent.value.status == 422
    expect(teacher.locator(".error-summary")).to_be_visible()
    expect(teacher.locator(".error-summary a[href='#account']")).to_contain_text("Write what you saw")
    expect(teacher.locator("#account-error")).to_contain_text("Write what you saw, heard or were told")
    expect(teacher.locator("#account")).to_have_attribute("aria-describedby", re.compile(r"\baccount-error\b"))
    expect(teacher.locator("#account")).to_have_attribute("aria-invalid", "true")
    expect(teacher.locator("#pupil_id input:checked")).to_have_value(re.compile(r"^\d+$"))
    expect(teacher.locator("#pupil_id input:checked + label")).to_have_text(label)
    expect(teacher.get_by_label("Safeguarding", exact=True)).to_be_checked()
    expect(teacher.get_by_label("This is urgent")).to_be_checked()

    teacher.get_by_label("What happened").fill(account)
    teacher.get_by_label("Attach a file (optional)").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": attachment})
    teacher.get_by_role("button", name="Save incident").click()
    expect(teacher).to_have_url(re.compile(rf"^{re.escape(base)}/incidents/\d+/recorded$"))
    incident_id = int(re.search(r"/incidents/(\d+)/recorded", teacher.url).group(1))
    expect(teacher.get_by_role("heading", name="Incident recorded")).to_be_visible()
    expect(teacher).to_have_title(f"Incident {incident_id} recorded — Haven")
    alerted = teacher.locator("main ul.list-bullet")
    expect(alerted).to_contain_text("The DSL team")
    expect(alerted).to_contain_text("Deputy Dee Lowe")
    expect(teacher.locator("main")).to_contain_text(name)
    expect(teacher.locator("main")).to_contain_text("Tell the DSL (or a deputy DSL) in person")
    expect(teacher.locator("main")).not_to_contain_text("could not be stored")

    # The teacher may read what they wrote.
    teacher.get_by_role("link", name="View the incident").click()
    expect(teacher).to_have_title(f"Incident {incident_id} — Haven")
    expect(teacher.locator(".account")).to_contain_text(marker)

    # --- the DSL is alerted and reads it --------------------------------------------------
    dsl = new_page()
    sign_in(dsl, base, DSL)
    give_second_factor(dsl)
    expect(dsl).to_have_url(f"{base}/")
    dsl.get_by_role("link", name="My alerts").first.click()
    expect(dsl).to_have_title("My alerts — Haven")
    link = dsl.locator(f"a[href^='/incidents/{incident_id}?alert=']")
    deadline = time.time() + ALERT_WAIT_SECONDS
    while link.count() == 0 and time.time() < deadline:  # alerts arrive by event, a moment later
        time.sleep(0.5)
        dsl.reload()
    assert link.count() == 1, f"no alert for incident {incident_id} reached the DSL"
    card = dsl.locator(".alert-card", has=link)
    expect(card).to_contain_text("Tom Archer")
    expect(card).to_contain_text("Safeguarding")
    expect(card.locator(".tag--urgent")).to_be_visible()
    expect(card.locator(".tag--unread")).to_be_visible()
    link.click()

    expect(dsl).to_have_title(f"Incident {incident_id} — Haven")
    assert marker not in dsl.title()
    expect(dsl.locator(".account")).to_contain_text(marker)
    assert dsl.locator(".account").inner_text().count("\n") >= 2, "line breaks in the account are kept"
    expect(dsl.locator("main")).to_contain_text("Tom Archer")
    expect(dsl.locator(".tag--urgent")).to_be_visible()
    document = dsl.get_by_role("link", name="notes.txt")
    expect(document).to_have_attribute("href", re.compile(r"^/api/v1/documents/[\w-]+$"))
    download = dsl.request.get(base + document.get_attribute("href"))
    assert download.status == 200 and download.body() == attachment

    # Opening the incident from the alert is the read receipt.
    dsl.goto(f"{base}/alerts")
    expect(dsl.locator(".alert-card", has=dsl.locator(f"a[href^='/incidents/{incident_id}?alert=']"))
           .locator(".tag--read")).to_be_visible()

    # --- another teacher cannot read it ----------------------------------------------------
    teacher2 = new_page()
    sign_in(teacher2, base, TEACHER2)
    expect(teacher2).to_have_url(f"{base}/")
    response = teacher2.goto(f"{base}/incidents/{incident_id}")
    assert response.status == 403
    expect(teacher2.get_by_role("heading", level=1)).to_have_text("You cannot open this page")
    assert marker not in teacher2.content()
    assert name not in teacher2.content()


def test_sign_in_refuses_a_wrong_password(stack, new_page):
    base = stack.base_url.rstrip("/")
    page = new_page()
    page.goto(f"{base}/incidents/new")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fincidents%2Fnew$"))
    page.get_by_label("School e-mail address").fill(TEACHER)
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_response(lambda r: r.url.endswith("/sign-in") and r.request.method == "POST") as sent:
        page.get_by_role("button", name="Sign in").click()
    assert sent.value.status == 401
    expect(page.locator("#email-error")).to_contain_text("do not match an active account")
    expect(page.get_by_label("School e-mail address")).to_have_value(TEACHER)
    # …and the right one goes back to where the teacher was heading.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/incidents/new")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=1$"))
    expect(page.locator("main")).to_contain_text("You have signed out")
    page.goto(f"{base}/alerts")
    expect(page).to_have_url(re.compile(r"/sign-in"))
