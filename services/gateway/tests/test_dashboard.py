"""The DSL's day in the gateway, over the fake RPC client: the dashboard (API and page) for the DSL team
alone, asked of both services at once, each part standing when another service is down; who has been
alerted about an incident (the read receipts) on its page; the chronology line's summary and what the
DSL team's lines say."""
from __future__ import annotations

import re

from sqlalchemy import text

from services.common.errors import Forbidden, ServiceUnavailable, ValidationFailed

from .conftest import staff

DOWN = ServiceUnavailable("A part of Haven is not running. Please try again in a minute.", "alerts")


def incident(**overrides) -> dict:
    base = {"id": 5, "pupil": {"id": 7, "name": "Ava Brown", "year_group": "Year 5"}, "pupil_id": 7,
            "occurred_at": "2026-03-01T09:30:00Z", "recorded_at": "2026-03-01T09:40:00Z",
            "recorded_by": {"id": 4, "name": "Tom Archer"}, "record_type": "observation",
            "record_type_label": "Observation", "account": "Seen crying at break.", "urgent": True,
            "categories": [], "linked_pupils": [], "body_map": [], "amendments": [], "current": {},
            "shows_original": False, "may": {}}
    return {**base, **overrides}


def incident_page_answers(rpc, **record) -> None:
    rpc.answers.update({"incidents.get_incident": incident(**record), "incidents.list_incident_actions": [],
                        "documents.list_documents": [], "incidents.list_category_tree": [],
                        "incidents.list_decisions": [], "incidents.list_outcomes": [], "incidents.list_cases": []})


def the_day() -> dict:
    """The incidents service's part of the dashboard, one of everything."""
    return {
        "unactioned": [{"incident_id": 31, "pupil": {"id": 7, "name": "Ava Brown", "year_group": "Year 5"},
                        "recorded_at": "2026-02-20T10:00:00Z", "categories": ["Neglect"], "urgent": False,
                        "days_waiting": 9}],
        "overdue_actions": [{"id": 41, "incident_id": 32, "description": "Call the social worker back.",
                             "assigned_to": {"id": 3, "name": "Dana Shah"}, "due_on": "2026-02-27",
                             "created_by": {"id": 3, "name": "Dana Shah"}, "completed": False}],
        "tray_waiting": 3,
        "week_starts_on": "2026-03-02", "term": {"name": "Spring term", "starts_on": "2026-01-05"},
        "counts_week": [{"category": "Neglect", "count": 2}],
        "counts_term": [{"category": "Neglect", "count": 11}, {"category": "Online safety", "count": 4}],
        "registers": [{"flag": "cp_plan", "label": "Child protection plan", "pupils": [
            {"pupil": {"id": 8, "name": "Ben Carter", "year_group": "Year 3"},
             "latest": {"occurred_at": "2026-03-01T09:00:00Z", "title": "Disclosure", "incident_id": 33},
             "open_case": {"id": 51, "title": "Home worries", "status": "open"}}]},
            {"flag": "child_in_need", "label": "Child in need", "pupils": []}],
    }


# In the alerts service's order (urgent first, then the longest waiting): the gateway keeps it.
UNOPENED = [
    {"incident_id": 22, "urgent": True, "recorded_at": "2026-03-02T09:00:00Z", "categories": ["Neglect"],
     "recorded_by": {"id": 4, "name": "Tom Archer"}, "escalation_level": 2},
    {"incident_id": 21, "urgent": False, "recorded_at": "2026-03-02T08:00:00Z", "categories": ["Behaviour"],
     "recorded_by": {"id": 4, "name": "Tom Archer"}, "escalation_level": 0},
]
FAILED = [{"id": 61, "alert_id": 71, "to_address": "tom@demo.haven.test", "attempts": 9, "status": "failed",
           "last_error": "connection refused"}]


def dashboard_answers(rpc, **overrides) -> None:
    rpc.answers.update({"alerts.get_school_settings": {"escalate_after_minutes": 15, "digest_time": "07:30",
                                                       "category_in_email": False, "unactioned_after_days": 9},
                        "incidents.get_dashboard": the_day(), "alerts.unopened_incidents": UNOPENED,
                        "alerts.failed_mail": FAILED, **overrides})


def audited(engine, action: str) -> list[tuple]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT outcome, object_id FROM audit_log WHERE action=:a ORDER BY id"),
                                 {"a": action}))


def headings(page: str) -> list[str]:
    return re.findall(r'<h2 id="[^"]+">([^<]+)</h2>', page)


def repeated_ids(page: str) -> list[str]:
    ids = re.findall(r' id="([^"]+)"', page)
    return sorted({i for i in ids if ids.count(i) > 1})


# --- the dashboard --------------------------------------------------------------------------------------

def test_the_dashboard_is_for_the_dsl_team_alone(app, rpc, teacher, slt, engine):
    for who in (teacher, slt):
        assert who.get("/api/v1/dashboard").status_code == 403
        page = who.get("/dashboard")
        assert page.status_code == 403 and "You cannot open this page" in page.text
    assert rpc.calls == []
    assert ("refused:403", None) in audited(engine, "read_dashboard")


def test_the_dashboard_asks_both_services_with_the_schools_own_waiting_days(app, rpc, dsl, engine):
    dashboard_answers(rpc)
    r = dsl.get("/api/v1/dashboard")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["unavailable"] == {} and answer["unactioned_after_days"] == 9 and answer["settings_read"] is True
    asked = {c["key"]: c for c in rpc.calls}
    assert asked["incidents.get_dashboard"]["kwargs"] == {"unactioned_after_days": 9}
    assert asked["incidents.get_dashboard"]["timeout"] == 30
    assert {"alerts.unopened_incidents", "alerts.failed_mail"} <= set(asked)
    assert all(c["args"] and c["args"][0] for c in rpc.calls)  # each with the DSL's actor token
    assert [i["incident_id"] for i in answer["unopened"]] == [22, 21]  # urgent first
    assert answer["dashboard"]["registers"][0]["pupils"][0]["open_case"]["id"] == 51
    assert answer["failed_mail"][0]["to_address"] == "tom@demo.haven.test"
    assert ("ok", None) in audited(engine, "read_dashboard")


def test_the_dashboard_page_shows_each_section_in_order(app, rpc, dsl):
    dashboard_answers(rpc)
    page = dsl.get("/dashboard")
    assert page.status_code == 200, page.text
    assert headings(page.text) == ["New and not yet opened", "Failed alert e-mails", "Overdue actions",
                                   "Waiting with no action or outcome", "Incident tray", "Counts by category",
                                   "Registers"]
    html = page.text
    # New and not yet opened: urgent first, marked, with how far it was escalated.
    assert html.index('id="unopened-22"') < html.index('id="unopened-21"')
    urgent = html[html.index('id="unopened-22"'):html.index('id="unopened-21"')]
    assert "tag--urgent" in urgent and "Escalated to senior leaders" in urgent
    assert "tag--urgent" not in html[html.index('id="unopened-21"'):html.index('id="failed-mail"')]
    assert "1 alert e-mail could not be delivered" in html and 'href="/alerts/failed"' in html
    assert "Call the social worker back." in html and 'href="/incidents/32#action-41"' in html
    assert "9 days after they were recorded" in html and 'id="waiting-31"' in html
    assert "3 alerts from online-safety monitoring waiting" in html and 'href="/tray"' in html
    assert "This term (Spring term, from 5 January 2026)" in html and "<td data-label=\"Incidents\">11</td>" in html
    assert 'id="register-cp_plan"' in html and 'href="/pupils/8"' in html and 'href="/cases/51"' in html
    assert 'href="/incidents/33"' in html
    assert 'id="register-child_in_need"' in html and "No pupils." in html
    assert "could not be loaded" not in html
    assert repeated_ids(html) == []


def test_with_the_alerts_service_down_the_rest_of_the_dashboard_still_shows(app, rpc, dsl):
    dashboard_answers(rpc, **{"alerts.get_school_settings": DOWN, "alerts.unopened_incidents": DOWN,
                              "alerts.failed_mail": DOWN})
    r = dsl.get("/api/v1/dashboard")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer["unavailable"]) == {"unopened", "failed_mail"}
    assert answer["unopened"] is None and answer["failed_mail"] is None
    # The school's setting could not be read: the waiting list is asked for with the default.
    assert answer["unactioned_after_days"] == 5 and answer["settings_read"] is False
    assert [c["kwargs"] for c in rpc.calls if c["key"] == "incidents.get_dashboard"] == [{"unactioned_after_days": 5}]
    page = dsl.get("/dashboard")
    assert page.status_code == 200
    assert "The new incidents could not be loaded just now" in page.text
    assert "The failed e-mails could not be loaded just now" in page.text
    assert "Call the social worker back." in page.text and 'id="register-cp_plan"' in page.text
    assert "5 days is the default" in page.text


def test_with_the_incidents_service_down_the_alerts_parts_still_show(app, rpc, dsl):
    dashboard_answers(rpc, **{"incidents.get_dashboard": ServiceUnavailable(None, "incidents")})
    answer = dsl.get("/api/v1/dashboard").json()
    assert list(answer["unavailable"]) == ["dashboard"] and answer["dashboard"] is None
    page = dsl.get("/dashboard")
    assert page.status_code == 200
    assert "Actions, waiting incidents, the tray, counts and registers could not be loaded" in page.text
    assert 'id="unopened-22"' in page.text and "1 alert e-mail could not be delivered" in page.text


def test_with_every_service_down_the_dashboard_is_a_503(app, rpc, dsl, engine):
    dashboard_answers(rpc, **{"incidents.get_dashboard": DOWN, "alerts.get_school_settings": DOWN,
                              "alerts.unopened_incidents": DOWN, "alerts.failed_mail": DOWN})
    r = dsl.get("/api/v1/dashboard")
    assert r.status_code == 503 and r.json()["detail"]
    assert dsl.get("/dashboard").status_code == 503
    assert ("failed:503", None) in audited(engine, "read_dashboard")


def test_a_refusal_is_not_taken_for_a_service_being_down(app, rpc, dsl):
    dashboard_answers(rpc, **{"alerts.failed_mail": Forbidden("Only the DSL team and administrators.")})
    assert dsl.get("/api/v1/dashboard").status_code == 403


def test_the_home_page_links_the_dsl_team_to_the_dashboard(app, rpc, dsl, teacher):
    rpc.answers["alerts.list_alerts"] = []
    assert 'href="/dashboard"' in dsl.get("/").text
    assert 'href="/dashboard"' not in teacher.get("/").text


# --- who has been alerted (the read receipts) -------------------------------------------------------------

RECEIPTS = {"incident_id": 5, "urgent": True, "recorded_at": "2026-03-01T09:40:00Z", "opened_at": None,
            "escalations": [{"level": 1, "to": "dsl_team", "at": "2026-03-01T09:55:00Z", "recipients": 2}],
            "receipts": [
                {"alert_id": 81, "recipient": {"id": 3, "name": "Dana Shah"}, "kind": "alert",
                 "created_at": "2026-03-01T09:40:01Z", "read_at": "2026-03-01T10:05:00Z", "mail": "sent"},
                {"alert_id": 82, "recipient": {"id": 9, "name": "Priya Deputy"}, "kind": "escalation",
                 "escalation_level": 1, "created_at": "2026-03-01T09:55:00Z", "read_at": None, "mail": "failed"}]}


def test_the_receipts_are_asked_of_the_alerts_service_which_decides_who_sees_them(app, rpc, teacher, dsl, engine):
    rpc.answers["alerts.incident_alerts"] = RECEIPTS
    r = dsl.get("/api/v1/incidents/5/alerts")
    assert r.status_code == 200 and r.json()["receipts"][1]["mail"] == "failed"
    assert rpc.calls[-1]["key"] == "alerts.incident_alerts" and rpc.calls[-1]["kwargs"] == {"incident_id": 5}
    rpc.answers["alerts.incident_alerts"] = Forbidden("Only the DSL team and the member of staff who recorded it.")
    assert teacher.get("/api/v1/incidents/5/alerts").status_code == 403
    assert [o for o, i in audited(engine, "read_incident_alerts") if i == "5"][-2:] == ["ok", "refused:403"]


def test_the_incident_page_shows_the_dsl_who_has_opened_it(app, rpc, dsl):
    incident_page_answers(rpc)
    rpc.answers["alerts.incident_alerts"] = RECEIPTS
    page = dsl.get("/incidents/5")
    assert page.status_code == 200, page.text
    html = page.text
    section = html[html.index('id="who-alerted"'):html.index('id="corrections"')]
    assert "Not yet opened by the DSL team." in section
    assert "Level 1: to the DSL team and deputies (2 people)" in section
    assert "Dana Shah" in section and "Sent" in section
    deputy = section[section.index("Priya Deputy"):]
    assert "Escalation (level 1)" in deputy and "Not opened" in deputy and "Failed" in deputy
    assert repeated_ids(html) == []


def test_the_recorder_sees_the_receipts_and_other_staff_are_not_asked(app, rpc, teacher, session):
    teacher_id = staff(session, "teacher@demo.haven.test").id
    incident_page_answers(rpc, recorded_by={"id": teacher_id, "name": "Tom Archer"})
    rpc.answers["alerts.incident_alerts"] = {**RECEIPTS, "opened_at": "2026-03-01T10:05:00Z",
                                             "opened_by": {"id": 3, "name": "Dana Shah"}}
    page = teacher.get("/incidents/5")
    assert "Who has been alerted" in page.text and "First opened by the DSL team (Dana Shah)" in page.text
    rpc.calls.clear()
    incident_page_answers(rpc, recorded_by={"id": teacher_id + 1000, "name": "Someone Else"}, may={"shared": True})
    page = teacher.get("/incidents/5")
    assert page.status_code == 200 and "Who has been alerted" not in page.text
    assert "alerts.incident_alerts" not in rpc.keys()


def test_receipts_refused_are_hidden_and_receipts_unavailable_are_a_calm_note(app, rpc, dsl):
    incident_page_answers(rpc)
    rpc.answers["alerts.incident_alerts"] = Forbidden("Not for you.")
    page = dsl.get("/incidents/5")
    assert page.status_code == 200 and "Who has been alerted" not in page.text
    rpc.answers["alerts.incident_alerts"] = DOWN
    page = dsl.get("/incidents/5")
    assert page.status_code == 200
    assert "Who has been alerted cannot be shown just now" in page.text and "Not for you." not in page.text


# --- the chronology line ----------------------------------------------------------------------------------

def test_only_the_dsl_team_writes_the_chronology_line(app, rpc, teacher, slt, engine):
    for who in (teacher, slt):
        assert who.post("/api/v1/incidents/5/summary", json={"summary": "Upset at break."}).status_code == 403
        assert who.post("/incidents/5/summary", data={"summary": "Upset at break."}).status_code == 403
    assert rpc.calls == []
    assert "refused:403" in [o for o, i in audited(engine, "set_incident_summary") if i == "5"]


def test_the_dsl_writes_and_clears_the_chronology_line(app, rpc, dsl, engine):
    rpc.answers["incidents.set_incident_summary"] = lambda kwargs: {"incident_id": kwargs["incident_id"],
                                                                    "summary": kwargs.get("summary") or None}
    r = dsl.post("/api/v1/incidents/5/summary", json={"summary": "Upset at break; mum told.", "incident_id": 99})
    assert r.status_code == 200 and r.json() == {"incident_id": 5, "summary": "Upset at break; mum told."}
    assert rpc.calls[-1]["kwargs"] == {"incident_id": 5, "summary": "Upset at break; mum told."}
    assert dsl.post("/api/v1/incidents/5/summary", json={"summary": "x" * 301}).status_code == 422
    done = dsl.post("/incidents/5/summary", data={"summary": "  "}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/incidents/5?done=summary#summary"
    assert rpc.calls[-1]["kwargs"] == {"incident_id": 5, "summary": ""}
    outcomes = [o for o, i in audited(engine, "set_incident_summary") if i == "5"]
    assert outcomes[-3:] == ["ok", "invalid:422", "ok"]


def test_a_summary_the_service_refuses_comes_back_in_the_form(app, rpc, dsl):
    incident_page_answers(rpc, summary="Old line.")
    page = dsl.get("/incidents/5")
    assert 'id="chronology-summary" name="summary" maxlength="300" value="Old line."' in page.text
    rpc.answers["incidents.set_incident_summary"] = ValidationFailed(
        [{"field": "summary", "message": "Keep the summary to one line."}])
    page = dsl.post("/incidents/5/summary", data={"summary": "Two\nlines"})
    assert page.status_code == 422
    assert 'href="#chronology-summary"' in page.text and 'id="chronology-summary-error"' in page.text
    assert "Keep the summary to one line." in page.text


def test_the_dsl_teams_chronology_lines_say_what_happened_who_recorded_it_and_how_it_ended(app, rpc, dsl, slt):
    entry = {"id": 91, "entry_type": "incident", "occurred_at": "2026-03-01T09:30:00Z", "title": "Neglect",
             "incident_id": 5, "ref_id": 5, "significant": False}
    lines = [{**entry, "excerpt": "Came in without a coat again.", "recorded_by": "Tom Archer",
              "outcome": "Referral made"},
             {**entry, "id": 92, "excerpt": "Hungry at lunch; said there was no breakfast.",
              "recorded_by": "Sam Lee", "outcome": None}]
    rpc.answers.update({"incidents.get_front_sheet": {"pupil": {"id": 7, "name": "Ava Brown", "year_group": "Year 5"},
                                                      "flags": {}, "counts": {"incidents": 2, "open_actions": 0}},
                        "incidents.get_chronology": {"pupil": {"id": 7}, "entries": lines},
                        "incidents.list_category_tree": []})
    page = dsl.get("/pupils/7")
    assert page.status_code == 200, page.text
    first = page.text[page.text.index('id="entry-91"'):page.text.index('id="entry-92"')]
    assert "Came in without a coat again." in first and "Recorded by Tom Archer" in first
    assert "Outcome: Referral made" in first and 'href="/incidents/5#summary"' in first
    second = page.text[page.text.index('id="entry-92"'):]
    assert "Hungry at lunch" in second and "Recorded by Sam Lee" in second and "Outcome:" not in second
    # Other readers' lines come without them (the service sends none), and with no summary link.
    rpc.answers["incidents.get_chronology"] = {"pupil": {"id": 7}, "entries": [entry]}
    other = slt.get("/pupils/7")
    assert other.status_code == 200 and "Recorded by" not in other.text and "#summary" not in other.text

