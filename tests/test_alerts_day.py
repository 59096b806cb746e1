"""The DSL's day through every real part: urgent e-mail at once, read receipts from opening an incident,
the dashboard's unopened list, an amendment telling the recorder, and the daily-digest preference."""
from __future__ import annotations

import email
import uuid
from email import policy

from .client import eventually
from .test_end_to_end import DSL, TEACHER, TEACHER2, record

DEPUTY = "ddsl@demo.haven.test"


def mails_about(stack, address: str, incident_id: int) -> list[email.message.EmailMessage]:
    return [email.message_from_string(body, policy=policy.default) for to, body in stack.mail.messages
            if address in to and f"/incidents/{incident_id}" in body]


def test_an_urgent_concern_is_mailed_at_once_marked_urgent_in_text_and_html_and_says_nothing_of_the_child(stack, api):
    marker = f"URGENT-MARKER-{uuid.uuid4().hex[:8]}"
    incident = record(api(TEACHER), f"She said {marker} and would not go home.", urgent=True)
    for address in (DSL, DEPUTY):
        [message] = eventually(lambda: mails_about(stack, address, incident["id"]))
        assert message["Subject"] == "URGENT: Haven: a new alert for you"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        for part in (text, html):
            assert "URGENT" in part and "Tom Archer" in part and f"/incidents/{incident['id']}" in part
            assert marker not in part and incident["pupil"]["name"] not in part
            assert "Safeguarding" not in part  # the school has not chosen to name categories
        assert message["Message-ID"]
    mine = api(DSL).get("/api/v1/alerts").json()
    assert any(a["incident_id"] == incident["id"] and a["urgent"] and a["kind"] == "alert" for a in mine)


def test_opening_an_incident_is_the_read_receipt_and_takes_it_off_the_dashboard(stack, api):
    teacher, dsl = api(TEACHER), api(DSL)
    incident = record(teacher, "Came in without a coat again; said there is no heating at home.")
    iid = incident["id"]

    def unopened() -> list[int]:
        return [i["incident_id"] for i in (dsl.get("/api/v1/dashboard").json().get("unopened") or [])]
    assert eventually(lambda: iid in unopened())

    assert dsl.get(f"/api/v1/incidents/{iid}").status_code == 200
    receipts = eventually(lambda: (lambda v: v if v.get("opened_by") else None)(
        dsl.get(f"/api/v1/incidents/{iid}/alerts").json()))
    assert receipts["opened_by"]["name"] == "Dana Shah" and receipts["opened_at"]
    read = {r["recipient"]["name"]: r["read_at"] for r in receipts["receipts"]}
    assert read["Dana Shah"] is not None and "Dana Shah" in read
    assert iid not in unopened()

    # The recorder sees who has opened it; another teacher, and the school's SLT, do not.
    assert teacher.get(f"/api/v1/incidents/{iid}/alerts").json()["opened_by"]["name"] == "Dana Shah"
    assert api(TEACHER2).get(f"/api/v1/incidents/{iid}/alerts").status_code == 403


def test_an_amendment_by_the_dsl_tells_the_recorder_without_what_changed(stack, api):
    incident = record(api(TEACHER), "Said he had not eaten since Friday lunchtime.")
    r = api(DSL).post(f"/api/v1/incidents/{incident['id']}/amendments", json={
        "field": "account", "new_value": "Said he had not eaten since Friday lunchtime (confirmed by TA).",
        "reason": "Adding who confirmed it."})
    assert r.status_code == 201, r.text
    [message] = eventually(lambda: [m for m in mails_about(stack, TEACHER, incident["id"])
                              if "amended a record you made" in " ".join(m.get_body(("plain",)).get_content().split())])
    body = message.as_string()
    assert "confirmed by TA" not in body and "eaten" not in body


def test_someone_on_the_daily_digest_gets_routine_alerts_in_the_app_only_and_urgent_ones_at_once(stack, api):
    teacher2 = api(TEACHER2)
    tess = next(s["id"] for s in teacher2.get("/api/v1/staff", params={"q": "Tess"}).json()
                if s["name"] == "Tess Morgan")
    r = teacher2.put("/api/v1/alerts/preferences", json={"digest": True})
    assert r.status_code == 200 and r.json()["digest"] is True, r.text
    try:
        routine = record(api(TEACHER), "Asked to sit away from the window all day.", alert_user_ids=[tess])
        urgent = record(api(TEACHER), "Asked who would collect her; said not her stepdad.", alert_user_ids=[tess],
                        urgent=True)
        assert eventually(lambda: mails_about(stack, TEACHER2, urgent["id"]))
        alerted = {a["incident_id"] for a in teacher2.get("/api/v1/alerts").json()}
        assert {routine["id"], urgent["id"]} <= alerted
        assert mails_about(stack, TEACHER2, routine["id"]) == []  # held for the digest
        # The DSL team's copies of the routine one went at once: the preference is Tess's alone.
        assert eventually(lambda: mails_about(stack, DSL, routine["id"]))
    finally:
        teacher2.put("/api/v1/alerts/preferences", json={"digest": False})
