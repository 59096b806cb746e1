"""The fuller record in a real browser: a teacher records an incident with a linked pupil and two
body-map marks placed by clicking the outline; the DSL reads it, then works with the pupil's
chronology (filters and the significant-event flag).

Runs against the whole stack (`stack` in conftest.py) with Debian's Chromium, as test_browser.py does.
"""
from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from .test_browser import DSL, TEACHER, give_second_factor, sign_in

# Set HAVEN_SCREENSHOTS to a folder to keep full-page screenshots of the pages at each width.
SCREENSHOTS = os.environ.get("HAVEN_SCREENSHOTS")


def _context(browser, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    return context


@pytest.fixture(scope="module")
def dsl_page(stack, browser):
    """One signed-in DSL for the module: each sign-in spends a TOTP step (up to 30 s of waiting)."""
    context = _context(browser)
    page = context.new_page()
    sign_in(page, stack.base_url, DSL)
    give_second_factor(page)
    yield page
    context.close()


def svg_point(page: Page, x: float, y: float) -> dict:
    """Where to click, relative to the body-map drawing, for a point in its own (SVG) units."""
    box = page.locator("#body-map-svg").bounding_box()
    width, height = (float(v) for v in page.locator("#body-map-svg").get_attribute("viewBox").split()[2:])
    return {"x": x * box["width"] / width, "y": y * box["height"] / height}


def outline_point(page: Page, side: str, fx: float, fy: float) -> dict:
    """A point given as fractions of one outline's box (as the service stores marks)."""
    group = page.locator(f".body-map__side[data-side='{side}']")
    left, top = float(group.get_attribute("data-left")), float(group.get_attribute("data-top"))
    svg = page.locator("#body-map-svg")
    return svg_point(page, left + fx * float(svg.get_attribute("data-box-width")),
                     top + fy * float(svg.get_attribute("data-box-height")))


def test_teacher_records_linked_pupils_and_body_map_and_dsl_reads_it(stack, browser, dsl_page, api):
    base = stack.base_url.rstrip("/")
    marker = f"body-map-marker-{uuid.uuid4().hex[:12]}"
    # A pupil with a sibling on the roll, and another pupil (not family) to link as well.
    teacher_api = api(TEACHER)
    roll = teacher_api.get("/api/v1/pupils", params={"q": "", "limit": 100}).json()
    siblings = {p["id"]: teacher_api.get(f"/api/v1/pupils/{p['id']}/siblings").json() for p in roll[:30]}
    main = next(p for p in roll if siblings.get(p["id"]))
    sibling = siblings[main["id"]][0]
    other = next(p for p in roll if p["id"] not in (main["id"], sibling["id"])
                 and p["name"] not in (main["name"], sibling["name"]))

    teacher_context = _context(browser)
    teacher = teacher_context.new_page()
    problems: list[str] = []
    teacher.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(teacher, base, TEACHER)
    teacher.goto(f"{base}/incidents/new")
    expect(teacher).to_have_title("Add incident — Haven")

    # The pupil; their sibling in one click; another pupil linked with a role of their own.
    teacher.locator(f"#pupil_id-{main['id']}").check()
    teacher.get_by_role("button", name="Add the pupil's siblings").click()
    rows = teacher.locator("#linked-list [data-linked-row]")
    expect(rows).to_have_count(len(siblings[main["id"]]))
    expect(rows.first).to_contain_text(sibling["name"])
    expect(rows.first.get_by_label("Role")).to_have_value("sibling")
    teacher.get_by_label("Find another pupil to link").fill(other["name"])
    teacher.wait_for_function(
        "id => [...document.querySelectorAll('#linked_pick input')].some(o => o.value === String(id))", arg=other["id"])
    teacher.locator(f"#linked_pick-{other['id']}").check()
    teacher.get_by_role("button", name="Link this pupil").click()
    row = teacher.locator(f"#linked-list [data-linked-row][data-pupil-id='{other['id']}']")
    expect(row).to_contain_text(other["name"])
    expect(row.get_by_label("Role")).to_be_focused()
    row.get_by_label("Role").select_option("alleged_perpetrator")
    other_name, n_linked = other["name"], len(siblings[main["id"]]) + 1

    teacher.get_by_label("A disclosure or conversation with the child").check()
    teacher.get_by_label("Where it happened").fill("Year 4 cloakroom")
    teacher.get_by_label("The child's own words").fill(f"it hurts when I sit down {marker}")
    teacher.get_by_label("Safeguarding", exact=True).check()

    # Two marks placed by clicking the outline: the chest (front) and the left forearm (back).
    drawing = teacher.locator("#body-map-svg")
    drawing.click(position=outline_point(teacher, "front", 0.5, 0.25))
    expect(teacher.locator("#marks [data-mark-row]")).to_have_count(1)
    expect(teacher.locator("#body_map-0-mark_type")).to_be_focused()  # the new mark's details come next
    drawing.click(position=outline_point(teacher, "back", 0.19, 0.425))
    marks = teacher.locator("#marks [data-mark-row]")
    expect(marks).to_have_count(2)
    expect(marks.nth(0).locator("legend")).to_contain_text("Mark 1: Front, near the chest")
    expect(marks.nth(1).locator("legend")).to_contain_text("Mark 2: Back, near the left forearm")
    expect(teacher.locator("#body-map-dots .body-map__dot")).to_have_count(2)

    # A click beside the body (inside the front outline's box, off the body) places nothing.
    drawing.click(position=outline_point(teacher, "front", 0.06, 0.05))
    expect(teacher.locator("#body-map-error")).to_be_visible()
    expect(teacher.locator("#body-map-error")).to_contain_text("outside the body outline")
    expect(marks).to_have_count(2)

    teacher.locator("#body_map-0-mark_type").select_option("bruise")
    teacher.locator("#body_map-0-colour").fill("purple and yellow")
    teacher.locator("#body_map-0-description").fill(f"Oval bruise {marker}")
    teacher.locator("#body_map-1-mark_type").select_option("cut")
    teacher.locator("#body_map-1-size").fill("2 cm")
    teacher.locator("#body_map-1-description").fill("Thin straight cut")

    # A mark whose position was altered to lie off the body, and no account: the service refuses
    # both, each beside its field, and the form comes back with the marks and the linked pupil.
    good_x = teacher.locator("input[name='body_map-1-x']").input_value()
    teacher.locator("input[name='body_map-1-x']").evaluate("el => { el.value = '0.02'; }")
    with teacher.expect_response(lambda r: r.url.endswith("/incidents/new") and r.request.method == "POST") as sent:
        teacher.get_by_role("button", name="Save incident").click()
    assert sent.value.status == 422
    expect(teacher.locator(".error-summary")).to_contain_text("Write what you saw")
    expect(teacher.locator(".error-summary a[href='#body_map-1']")).to_contain_text("outside the body outline")
    expect(teacher.locator("#body_map-1-error")).to_contain_text("outside the body outline")
    expect(teacher.locator("#body_map-0-error")).to_have_count(0)
    marks = teacher.locator("#marks [data-mark-row]")
    expect(marks).to_have_count(2)
    expect(teacher.locator("#body_map-0-mark_type")).to_have_value("bruise")
    expect(teacher.locator("#body_map-0-description")).to_have_value(f"Oval bruise {marker}")
    expect(teacher.locator("#body_map-1-size")).to_have_value("2 cm")
    expect(teacher.locator("#body-map-dots .body-map__dot")).to_have_count(2)  # each drawn where it was put
    expect(teacher.locator("#linked-list [data-linked-row]")).to_have_count(n_linked)
    expect(teacher.locator("#linked_pupils-0-role")).to_have_value("sibling")
    expect(teacher.locator(f"#linked_pupils-{n_linked - 1}-role")).to_have_value("alleged_perpetrator")
    expect(teacher.locator("#linked-list")).to_contain_text(other_name)
    expect(teacher.locator(f"#pupil_id-{main['id']}")).to_be_checked()
    expect(teacher.get_by_label("The child's own words")).to_have_value(f"it hurts when I sit down {marker}")
    expect(teacher.get_by_label("A disclosure or conversation with the child")).to_be_checked()

    # Nothing was half-saved: no incident carries the marker's words.
    main_id = int(teacher.locator("#pupil_id input:checked").input_value())
    before = dsl_page.request.get(f"{base}/api/v1/pupils/{main_id}/chronology").json()["entries"]

    teacher.locator("input[name='body_map-1-x']").evaluate("(el, x) => { el.value = x; }", good_x)
    teacher.get_by_label("What happened").fill(f"In the cloakroom at 12:10 the child told me she was hurt. {marker}")
    teacher.get_by_role("button", name="Save incident").click()
    expect(teacher).to_have_url(re.compile(rf"^{re.escape(base)}/incidents/\d+/recorded"))
    incident_id = int(re.search(r"/incidents/(\d+)/recorded", teacher.url).group(1))
    assert all(e.get("incident_id") != incident_id for e in before)
    assert problems == [], problems
    teacher_context.close()

    # The DSL reads it: both marks in the drawing, and the linked pupil with their role.
    dsl = dsl_page
    dsl.goto(f"{base}/incidents/{incident_id}")
    expect(dsl).to_have_title(f"Incident {incident_id} — Haven")
    linked = dsl.locator(".linked-summary li")
    expect(linked).to_have_count(n_linked)
    expect(linked.filter(has_text=other_name).locator(".tag--role")).to_have_text("Alleged perpetrator")
    expect(linked.filter(has_text=sibling["name"]).locator(".tag--role")).to_have_text("Sibling")
    expect(dsl.locator("main")).to_contain_text("Disclosure or conversation with the child")
    expect(dsl.locator("main")).to_contain_text("Year 4 cloakroom")
    image = dsl.locator("img.body-map-view__image")
    expect(image).to_have_attribute("src", f"/api/v1/incidents/{incident_id}/body-map.svg")
    expect(image).to_have_attribute("alt", re.compile(r"2 marks: 1\. Bruise, front, near the chest; 2\. Cut, back"))
    assert dsl.evaluate("() => document.querySelector('img.body-map-view__image').naturalWidth") > 0
    svg = dsl.request.get(f"{base}/api/v1/incidents/{incident_id}/body-map.svg")
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    drawn = svg.text()
    assert len(re.findall(r'<g class="mark mark-(\w+)" data-number="(\d)"', drawn)) == 2
    assert re.search(r'class="mark mark-bruise" data-number="1"', drawn)
    assert re.search(r'class="mark mark-cut" data-number="2"', drawn)
    items = dsl.locator(".mark-list__item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("Bruise")
    expect(items.nth(0)).to_contain_text("purple and yellow")
    expect(items.nth(0)).to_contain_text(f"Oval bruise {marker}")
    expect(items.nth(1)).to_contain_text("Cut")
    expect(items.nth(1)).to_contain_text("2 cm")


def _record(api_client, pupil_id: int, category: str, account: str, days_ago: int) -> int:
    categories = {c["name"]: c["id"] for c in api_client.get("/api/v1/categories").json()}
    when = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()
    r = api_client.post("/api/v1/incidents", json={
        "pupil_id": pupil_id, "occurred_at": when, "account": account, "category_ids": [categories[category]],
        "record_type": "observation"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _shown_incidents(page: Page) -> list[int]:
    hrefs = page.locator("#chronology-list .chronology__title a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    return [int(h.rsplit("/", 1)[1]) for h in hrefs]


def test_dsl_filters_a_pupils_chronology_and_marks_a_significant_event(stack, dsl_page, api):
    base = stack.base_url.rstrip("/")
    teacher = api(TEACHER)
    pupil = teacher.get("/api/v1/pupils", params={"q": "", "limit": 100}).json()[-1]
    bullying = _record(teacher, pupil["id"], "Behaviour", "Pushed another pupil at break.", days_ago=3)
    worry = _record(teacher, pupil["id"], "Safeguarding", "Said nobody was at home last night.", days_ago=1)

    dsl = dsl_page
    dsl.goto(f"{base}/pupils/{pupil['id']}")
    expect(dsl).to_have_title(f"{pupil['name']} — Haven")
    expect(dsl.get_by_role("heading", level=1)).to_have_text(pupil["name"])
    expect(dsl.get_by_role("heading", name="Key details")).to_be_visible()
    shown = _shown_incidents(dsl)
    assert bullying in shown and worry in shown
    assert shown.index(bullying) < shown.index(worry), "in the order things happened"

    # Filter by category: only the behaviour incident.
    dsl.get_by_label("Category").select_option(label="Behaviour")
    dsl.get_by_role("button", name="Show").click()
    expect(dsl).to_have_url(re.compile(r"category=\d+"))
    shown = _shown_incidents(dsl)
    assert bullying in shown and worry not in shown

    # Mark the safeguarding incident significant, then show significant events only.
    dsl.get_by_role("link", name="Clear the filters").click()
    entry = dsl.locator(f"#chronology-list .chronology__entry:has(a[href='/incidents/{worry}'])").first
    expect(entry.locator(".tag--significant")).to_have_count(0)
    entry.get_by_role("button", name=re.compile("^Mark as significant")).click()
    expect(dsl.locator(".notice")).to_contain_text("significant event")
    entry = dsl.locator(f"#chronology-list .chronology__entry:has(a[href='/incidents/{worry}'])").first
    expect(entry.locator(".tag--significant")).to_be_visible()
    dsl.get_by_label("Significant events only").check()
    dsl.get_by_role("button", name="Show").click()
    expect(dsl).to_have_url(re.compile(r"significant=1"))
    shown = _shown_incidents(dsl)
    assert worry in shown and bullying not in shown
    entries = dsl.locator("#chronology-list .chronology__entry")
    assert entries.count() >= 1
    for n in range(entries.count()):
        expect(entries.nth(n).locator(".tag--significant")).to_be_visible()
    # The same filtered view through the API agrees.
    api_entries = dsl.request.get(f"{base}/api/v1/pupils/{pupil['id']}/chronology?significant=true").json()
    assert {e["incident_id"] for e in api_entries["entries"]} >= {worry}
    assert bullying not in {e["incident_id"] for e in api_entries["entries"]}


@pytest.mark.parametrize("width", [1280, 375, 360])
def test_pages_fit_the_screen(stack, browser, dsl_page, width):
    """Nothing runs off the side at a desktop or a phone's width."""
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
    base = stack.base_url.rstrip("/")
    dsl_page.set_viewport_size({"width": width, "height": 900})
    try:
        pupil = dsl_page.request.get(f"{base}/api/v1/pupils?q=&limit=1").json()[0]
        pages = (("home", "/"), ("form", "/incidents/new"), ("pupil", f"/pupils/{pupil['id']}"),
                 ("cases", "/cases?status=all"), ("tray", "/tray?status=all"), ("roll", "/roll/import"),
                 ("actions", "/actions"), ("search", "/pupils?q=a"), ("dashboard", "/dashboard"),
                 ("alerts", "/alerts"), ("alert-settings", "/admin/alerts"))
        for name, path in pages:
            response = dsl_page.goto(base + path)
            assert response.status == 200, (path, response.status)
            overflow = dsl_page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            if SCREENSHOTS:
                dsl_page.screenshot(path=f"{SCREENSHOTS}/{name}-{width}.png", full_page=True)
            assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px screen"
    finally:
        dsl_page.set_viewport_size({"width": 1280, "height": 900})


def test_dsl_corrects_and_follows_up_an_incident(stack, browser, dsl_page, api):
    """Corrections keep the original; actions, decisions (not to refer needs reasons), outcomes and a
    case, each through its form on the incident page."""
    base = stack.base_url.rstrip("/")
    teacher = api(TEACHER)
    pupil = teacher.get("/api/v1/pupils", params={"q": "", "limit": 100}).json()[-2]
    incident_id = _record(teacher, pupil["id"], "Safeguarding", "Arrived without a coat in the rain.", days_ago=2)
    dsl = dsl_page
    dsl.goto(f"{base}/incidents/{incident_id}")

    # A correction, refused without a reason, then kept beside the original.
    dsl.get_by_label("Correct part of this record").select_option("account")
    dsl.get_by_role("button", name="Amend").click()
    expect(dsl).to_have_url(re.compile(rf"/incidents/{incident_id}/amend\?field=account$"))
    box = dsl.get_by_label("What happened (the account), corrected")
    expect(box).to_have_value("Arrived without a coat in the rain.")
    box.fill("Arrived without a coat or shoes in the rain.")
    dsl.get_by_role("button", name="Save correction").click()
    expect(dsl.locator("#reason-error")).to_contain_text("Say why")
    expect(box).to_have_value("Arrived without a coat or shoes in the rain.")
    dsl.get_by_label("Why are you correcting it?").fill("Left out the shoes")
    dsl.get_by_role("button", name="Save correction").click()
    expect(dsl).to_have_url(re.compile(rf"/incidents/{incident_id}\?done=amended"))
    expect(dsl.locator(".account")).to_have_text("Arrived without a coat or shoes in the rain.")
    history = dsl.locator(".history__item")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("Dana Shah")
    expect(history).to_contain_text("Why: Left out the shoes")
    original = dsl.locator("#original")
    original.locator("summary").click()
    expect(original).to_contain_text("Arrived without a coat in the rain.")

    # An action assigned to the teacher, who sees it under My actions.
    dsl.get_by_text("Add an action").click()
    dsl.get_by_role("button", name="Add action").click()
    expect(dsl.locator("#description-error")).to_contain_text("Say what was done")
    dsl.get_by_label("What was done, or is to be done").fill("Check in with the child each morning")
    dsl.get_by_label("Assign to").select_option(label="Tom Archer — Class Teacher, Year 4")
    dsl.get_by_role("button", name="Add action").click()
    action = dsl.locator("#actions ~ .record-list .record-card").first
    expect(action).to_contain_text("Check in with the child each morning")
    expect(action).to_contain_text("Assigned to Tom Archer")
    mine = teacher.get("/api/v1/actions", params={"assigned": "me"}).json()
    assert any(a["incident_id"] == incident_id for a in mine)

    # A decision not to refer needs its reasons; the form says so and keeps the choice.
    dsl.get_by_text("Record a decision").click()
    dsl.get_by_label("Decide not to refer").check()
    dsl.get_by_role("button", name="Record decision").click()
    expect(dsl.locator("#reason-error")).to_contain_text("why you decided not to refer")
    expect(dsl.get_by_label("Decide not to refer")).to_be_checked()
    dsl.get_by_label("Reasons").fill("Spoke to mum: the coat was left at nan's. No wider concerns.")
    dsl.get_by_role("button", name="Record decision").click()
    expect(dsl.locator("#decisions ~ .record-list").first).to_contain_text("Spoke to mum")

    dsl.get_by_text("Record an outcome").click()
    dsl.get_by_label("Monitoring").check()
    dsl.get_by_role("button", name="Record outcome").click()
    expect(dsl.locator("#outcomes ~ .record-list").first).to_contain_text("Monitoring")

    # A case with this incident; closing it needs a reason, and the history says who and why.
    dsl.get_by_role("link", name="Open a new case with this incident").click()
    dsl.get_by_label("Title").fill("Coats and shoes, spring term")
    expect(dsl.get_by_label(re.compile(rf"^Incident {incident_id}:"))).to_be_checked()
    dsl.get_by_role("button", name="Open case").click()
    expect(dsl.get_by_role("heading", level=1)).to_have_text("Coats and shoes, spring term")
    expect(dsl.locator("#incidents ~ .record-list").first).to_contain_text(f"Incident {incident_id}")
    dsl.get_by_label("Change the status to").select_option("closed")
    dsl.get_by_role("button", name="Change status").click()
    expect(dsl.locator("#status-reason-error")).to_be_visible()
    dsl.get_by_label("Why").fill("Resolved with the family")
    dsl.get_by_role("button", name="Change status").click()
    expect(dsl.locator(".history")).to_contain_text("Resolved with the family")
    expect(dsl.locator(".summary-list")).to_contain_text("Closed")
