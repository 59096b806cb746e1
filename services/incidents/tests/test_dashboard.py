"""The DSL's dashboard against real PostgreSQL: who may ask, each list (incidents waiting for action,
overdue actions, the tray, this week's and this term's counts, the registers), what self-exclusion
hides from it, and that its number of queries does not grow with the school. The clock is the test's:
`now` is a Wednesday in the autumn term."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from services.common.contracts import incidents as contract
from services.common.contracts.incidents import REGISTER_FLAGS, DashboardView
from services.incidents.dashboard import calendar, day
from services.incidents.exceptions import Forbidden, ValidationFailed
from services.incidents.follow_up import actions, cases, decisions
from services.incidents.models import Incident, IncidentExclusion, Pupil, StaffRelative, TrayItem
from services.incidents.record import incidents as record

from .conftest import (DSL_USER, OTHER_SCHOOL, SCHOOL, SLT_USER, TEACHER, actor, category_id, new_record, pupil_id,
                       through_contract)

NOW = datetime(2026, 11, 25, 12, 0)  # Wednesday 25 November 2026, noon (UTC, as the database keeps times)
DSL = actor(DSL_USER, roles=("dsl",), second_factor=True, name="Dana Shah")
DEPUTY = actor(21, roles=("dsl",), second_factor=True, name="Dev Deputy")
DSL_LAPSED = actor(DSL_USER, roles=("dsl",), second_factor=True, stepped_up=False, name="Dana Shah")
RECORDER = actor(TEACHER, name="Tom Archer")
SLT = actor(SLT_USER, roles=("slt",), second_factor=True)
ADMIN = actor(40, roles=("admin",), second_factor=True)
ELSEWHERE_DSL = actor(99, roles=("dsl",), second_factor=True, school_id=OTHER_SCHOOL)


def record_at(sessions, session, recorded_at: datetime, *, categories=("Safeguarding",), surname="Quigley",
              urgent=False, occurred="2026-01-05T09:30:00Z") -> int:
    """An incident recorded by the teacher, as if at `recorded_at`."""
    data = {"pupil_id": pupil_id(session, surname), "occurred_at": occurred, "account": "Said she was hungry.",
            "category_ids": [category_id(session, c) for c in categories], "alert_user_ids": [],
            "alert_groups": [], "urgent": urgent}
    with sessions.begin() as s:
        incident_id = record.record_incident(s, RECORDER, new_record(data))["id"]
        s.execute(update(Incident).where(Incident.id == incident_id).values(recorded_at=recorded_at))
    return incident_id


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def dashboard(sessions, who=DSL, after_days=5, now=NOW) -> dict:
    with sessions() as s:
        result = day.get_dashboard(s, who, after_days, now=now)
    DashboardView.model_validate(result)  # the answer the gateway documents
    return result


def call(sessions, fn, *args):
    with sessions.begin() as s:
        return fn(s, *args)


def exclude(sessions, incident_id: int, user_id: int) -> None:
    """The record names this member of staff: it does not exist for them."""
    with sessions.begin() as s:
        s.add(IncidentExclusion(incident_id=incident_id, user_id=user_id))


# --- who may ask --------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", [RECORDER, SLT, ADMIN], ids=["staff", "slt", "admin"])
def test_only_the_dsl_team_sees_the_dashboard(sessions, who):
    with sessions() as s, pytest.raises(Forbidden) as refused:
        day.get_dashboard(s, who, 5, now=NOW)
    assert "Only the DSL team" in str(refused.value)


def test_the_dsl_sees_their_own_schools_dashboard_only(sessions, session):
    record_at(sessions, session, days_ago(10))
    assert len(dashboard(sessions)["unactioned"]) == 1
    elsewhere = dashboard(sessions, ELSEWHERE_DSL)
    assert (elsewhere["unactioned"], elsewhere["counts_term"], elsewhere["tray_waiting"]) == ([], [], 0)
    assert all(register["pupils"] == [] for register in elsewhere["registers"])


@pytest.mark.parametrize("days, refused", [(0, True), (1, False), (365, False), (366, True)])
def test_the_waiting_time_asked_for_is_one_day_to_a_year(days, refused):
    if refused:
        with pytest.raises(ValidationFailed) as caught:
            through_contract(contract.get_dashboard, unactioned_after_days=days)
        assert [e["field"] for e in caught.value.errors] == ["unactioned_after_days"]
    else:
        assert through_contract(contract.get_dashboard, unactioned_after_days=days) == {"unactioned_after_days": days}


# --- what waits -----------------------------------------------------------------------------------------

@pytest.fixture
def waiting(sessions, session) -> dict[str, int]:
    """Incidents of every kind of waiting, by name."""
    ids = {
        "urgent": record_at(sessions, session, days_ago(6), urgent=True, categories=("Neglect", "Bullying")),
        "oldest": record_at(sessions, session, days_ago(10)),
        "restricted": record_at(sessions, session, days_ago(9)),
        "named": record_at(sessions, session, days_ago(8)),
        "week": record_at(sessions, session, days_ago(7), surname="Gill", categories=("Behaviour",)),
        "fresh": record_at(sessions, session, days_ago(2)),
        "actioned": record_at(sessions, session, days_ago(10)),
        "decided": record_at(sessions, session, days_ago(10)),
        "outcome": record_at(sessions, session, days_ago(10)),
    }
    call(sessions, actions.add_action, DSL, ids["actioned"], {"description": "Called home."})
    call(sessions, decisions.record_decision, DSL, ids["decided"],
         {"decision_type": "early_help", "reason": "Family asked for support."})
    call(sessions, decisions.record_outcome, DSL, ids["outcome"], {"outcome_type": "monitoring"})
    with sessions.begin() as s:
        s.get(Incident, ids["restricted"]).restricted = True
    exclude(sessions, ids["named"], DSL_USER)
    return ids


def test_incidents_with_no_action_decision_or_outcome_after_n_days_urgent_first_then_oldest(sessions, waiting):
    listed = dashboard(sessions)["unactioned"]
    assert [i["incident_id"] for i in listed] == [waiting[n] for n in ("urgent", "oldest", "restricted", "week")]
    assert [i["days_waiting"] for i in listed] == [6, 10, 9, 7]
    urgent = listed[0]
    assert urgent["urgent"] is True and urgent["categories"] == ["Bullying", "Neglect"]
    assert urgent["pupil"]["name"] == "Quinn Quigley" and urgent["recorded_at"] == "2026-11-19T12:00:00Z"
    assert listed[3]["pupil"]["name"].endswith("Gill") and listed[3]["categories"] == ["Behaviour"]


def test_the_waiting_time_is_the_schools_choice(sessions, waiting):
    assert waiting["fresh"] in [i["incident_id"] for i in dashboard(sessions, after_days=2)["unactioned"]]
    assert waiting["fresh"] not in [i["incident_id"] for i in dashboard(sessions, after_days=3)["unactioned"]]
    assert [i["incident_id"] for i in dashboard(sessions, after_days=9)["unactioned"]] == [
        waiting["oldest"], waiting["restricted"]]


def test_a_record_that_names_a_dsl_is_not_on_their_dashboard_but_is_on_their_deputys(sessions, waiting):
    assert waiting["named"] not in [i["incident_id"] for i in dashboard(sessions)["unactioned"]]
    assert waiting["named"] in [i["incident_id"] for i in dashboard(sessions, DEPUTY)["unactioned"]]


def test_the_waiting_list_stops_at_its_limit_urgent_ones_kept(sessions, waiting, monkeypatch):
    monkeypatch.setattr(day, "UNACTIONED_LIMIT", 2)
    assert [i["incident_id"] for i in dashboard(sessions)["unactioned"]] == [waiting["urgent"], waiting["oldest"]]


def test_overdue_actions_are_the_open_ones_due_before_today_at_the_school(sessions, session):
    incident = record_at(sessions, session, days_ago(30))
    named = record_at(sessions, session, days_ago(30))

    def add(incident_id, due_on):
        return call(sessions, actions.add_action, DSL, incident_id,
                    {"description": "Check in with the family.", "taken_at": "2026-10-01T09:00:00Z",
                     "due_on": due_on, "assigned_to_user_id": TEACHER, "assigned_to_name": "Tom Archer"})
    yesterday, long_ago = add(incident, "2026-11-24"), add(incident, "2026-11-02")
    add(incident, "2026-11-25")  # due today: not overdue yet
    add(incident, None)  # no due date
    done = add(incident, "2026-11-20")
    call(sessions, actions.complete_action, DSL, done["id"], {})
    hidden = add(named, "2026-11-10")
    exclude(sessions, named, DSL_USER)  # then the DSL is named in that record

    overdue = dashboard(sessions)["overdue_actions"]
    assert [a["id"] for a in overdue] == [long_ago["id"], yesterday["id"]]
    assert overdue[0]["due_on"] == "2026-11-02" and overdue[0]["assigned_to"]["name"] == "Tom Archer"
    assert hidden["id"] in [a["id"] for a in dashboard(sessions, DEPUTY)["overdue_actions"]]
    # Half an hour into the next day, the action due today is overdue too.
    assert len(dashboard(sessions, now=datetime(2026, 11, 26, 0, 30))["overdue_actions"]) == 3


def test_the_tray_count_is_what_the_dsl_would_find_in_the_tray(sessions, session):
    quigley, vaughan = pupil_id(session, "Quigley"), pupil_id(session, "Vaughan")

    def item(n, status="pending", matched=None):
        return TrayItem(school_id=SCHOOL, integration_id=500, integration_name="Monitor", external_id=f"x{n}",
                        pupil_identifier="someone", matched_pupil_id=matched, severity="high",
                        summary="Searched for something.", occurred_at=days_ago(1), status=status)
    with sessions.begin() as s:
        s.add_all([item(1, matched=quigley), item(2), item(3, "dismissed"), item(4, matched=vaughan),
                   TrayItem(school_id=OTHER_SCHOOL, integration_id=501, integration_name="Monitor", external_id="y",
                            pupil_identifier="someone", severity="low", summary="x", occurred_at=days_ago(1))])
        s.add(StaffRelative(pupil_id=vaughan, user_id=DSL_USER))  # the DSL is Vaughan's parent
    assert dashboard(sessions)["tray_waiting"] == 2
    assert dashboard(sessions, DEPUTY)["tray_waiting"] == 3


# --- what came in ---------------------------------------------------------------------------------------

def test_counts_by_category_this_week_and_this_term_by_the_schools_calendar(sessions, session):
    record_at(sessions, session, datetime(2026, 11, 24, 9, 0))
    record_at(sessions, session, datetime(2026, 11, 23, 0, 30), categories=("Bullying", "Safeguarding"))
    record_at(sessions, session, datetime(2026, 11, 25, 8, 0), categories=("Medical",))
    record_at(sessions, session, datetime(2026, 11, 22, 23, 59), categories=("Behaviour",))  # last Sunday
    record_at(sessions, session, datetime(2026, 9, 1, 8, 0), categories=("Behaviour",))
    record_at(sessions, session, datetime(2026, 8, 31, 23, 30))  # 00:30 on 1 September in London (BST)
    record_at(sessions, session, datetime(2026, 8, 31, 22, 30))  # 23:30 on 31 August in London: last term
    named = record_at(sessions, session, datetime(2026, 11, 24, 10, 0), categories=("Physical abuse",))
    exclude(sessions, named, DSL_USER)
    record_at(sessions, session, datetime(2026, 11, 26, 9, 0))  # after the dashboard's `now`

    seen = dashboard(sessions)
    assert seen["week_starts_on"] == "2026-11-23"
    assert seen["term"] == {"name": "Autumn", "starts_on": "2026-09-01"}
    assert [(c["category"], c["count"]) for c in seen["counts_week"]] == [
        ("Safeguarding", 2), ("Bullying", 1), ("Medical", 1)]
    assert [(c["category"], c["count"]) for c in seen["counts_term"]] == [
        ("Safeguarding", 3), ("Behaviour", 2), ("Bullying", 1), ("Medical", 1)]
    # The record that names the DSL is counted for their deputy only.
    assert ("Physical abuse", 1) in [(c["category"], c["count"]) for c in dashboard(sessions, DEPUTY)["counts_week"]]


@pytest.mark.parametrize("today, name, starts_on", [
    (date(2026, 1, 1), "Spring", date(2026, 1, 1)), (date(2026, 3, 31), "Spring", date(2026, 1, 1)),
    (date(2026, 4, 1), "Summer", date(2026, 4, 1)), (date(2026, 8, 31), "Summer", date(2026, 4, 1)),
    (date(2026, 9, 1), "Autumn", date(2026, 9, 1)), (date(2026, 12, 31), "Autumn", date(2026, 9, 1))])
def test_terms_are_the_usual_english_terms(today, name, starts_on):
    assert calendar.term(today) == (name, starts_on)


def test_weeks_start_on_monday_and_days_are_the_schools():
    assert calendar.week_starts_on(date(2026, 11, 29)) == date(2026, 11, 23)  # a Sunday
    assert calendar.week_starts_on(date(2026, 11, 23)) == date(2026, 11, 23)
    assert calendar.school_today(datetime(2026, 6, 1, 23, 30)) == date(2026, 6, 2)  # 00:30 in London (BST)
    assert calendar.school_today(datetime(2026, 12, 1, 23, 30)) == date(2026, 12, 1)  # GMT
    assert calendar.day_starts_at(date(2026, 6, 2)) == datetime(2026, 6, 1, 23, 0)
    assert calendar.day_starts_at(date(2026, 12, 2)) == datetime(2026, 12, 2, 0, 0)


# --- the registers -------------------------------------------------------------------------------------

def names(result: dict, flag: str) -> list[str]:
    register = next(r for r in result["registers"] if r["flag"] == flag)
    return [entry["pupil"]["name"] for entry in register["pupils"]]


def entry_for(result: dict, flag: str, name: str) -> dict:
    register = next(r for r in result["registers"] if r["flag"] == flag)
    return next(e for e in register["pupils"] if e["pupil"]["name"] == name)


def test_each_register_lists_the_pupils_on_the_roll_with_that_flag(sessions, session):
    result = day.get_dashboard(session, DSL, 5, now=NOW)
    assert [(r["flag"], r["label"]) for r in result["registers"]] == [
        ("cp_plan", "Child protection plan"), ("child_in_need", "Child in need"), ("looked_after", "Looked after"),
        ("previously_looked_after", "Previously looked after"), ("early_help", "Early help")]
    assert names(result, "cp_plan") == ["Usman Mensah", "Dev Vaughan"]  # by surname
    assert names(result, "early_help") == ["Gabriel Ahmed", "Kiera Green"]

    # A flag set today shows at once; a leaver and a pupil whose parent the DSL is do not show.
    quigley = session.get(Pupil, pupil_id(session, "Quigley"))
    quigley.early_help = True
    session.get(Pupil, pupil_id(session, "Leaver", on_roll=False)).early_help = True
    session.add(StaffRelative(pupil_id=pupil_id(session, "Vaughan"), user_id=DSL_USER))
    session.flush()
    result = day.get_dashboard(session, DSL, 5, now=NOW)
    assert names(result, "early_help") == ["Gabriel Ahmed", "Kiera Green", "Quinn Quigley"]
    assert names(result, "cp_plan") == ["Usman Mensah"]
    assert names(day.get_dashboard(session, DEPUTY, 5, now=NOW), "cp_plan") == ["Usman Mensah", "Dev Vaughan"]


def test_a_register_entry_has_the_latest_line_the_dsl_reads_and_the_open_case(sessions, session):
    vaughan, mensah = pupil_id(session, "Vaughan"), pupil_id(session, "Mensah")
    older = record_at(sessions, session, days_ago(20), surname="Vaughan", categories=("Behaviour",),
                      occurred="2026-01-05T09:30:00Z")
    latest = record_at(sessions, session, days_ago(10), surname="Vaughan", occurred="2026-03-01T10:00:00Z")
    named = record_at(sessions, session, days_ago(5), surname="Vaughan", occurred="2026-04-01T10:00:00Z")
    exclude(sessions, named, DSL_USER)
    owner = {"owner_user_id": DSL_USER, "owner_name": "Dana Shah", "incident_ids": []}
    kept = call(sessions, cases.open_case, DSL, {"pupil_id": mensah, "title": "Neglect concerns", **owner})
    closed = call(sessions, cases.open_case, DSL, {"pupil_id": mensah, "title": "Attendance", **owner})
    call(sessions, cases.set_status, DSL, closed["id"], {"status": "closed", "reason": "Attendance is back up."})

    seen = dashboard(sessions)
    dev = entry_for(seen, "cp_plan", "Dev Vaughan")
    assert dev["latest"] == {"occurred_at": "2026-03-01T10:00:00Z", "title": "Observation — Safeguarding",
                             "incident_id": latest}
    assert dev["open_case"] is None and dev["pupil"]["id"] == vaughan
    usman = entry_for(seen, "cp_plan", "Usman Mensah")
    assert usman["open_case"] == {"id": kept["id"], "title": "Neglect concerns", "status": "open"}
    assert usman["latest"]["title"] == "Case closed: Attendance"
    assert entry_for(dashboard(sessions, DEPUTY), "cp_plan", "Dev Vaughan")["latest"]["incident_id"] == named

    # Without a recent second factor the DSL reads no safeguarding line (nor a case's), as in the chronology.
    lapsed = dashboard(sessions, DSL_LAPSED)
    assert entry_for(lapsed, "cp_plan", "Dev Vaughan")["latest"]["incident_id"] == older
    assert entry_for(lapsed, "cp_plan", "Usman Mensah")["latest"] is None


def test_the_dashboard_asks_the_same_number_of_queries_however_many_pupils_are_listed(engine, sessions, session):
    def statements() -> int:
        counted = []

        def count(*_):
            counted.append(1)
        event.listen(engine, "before_cursor_execute", count)
        try:
            day.get_dashboard(session, DSL, 5, now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(counted)

    record_at(sessions, session, days_ago(10), surname="Vaughan")
    few = statements()
    for pupil in session.scalars(select(Pupil).where(Pupil.school_id == SCHOOL, Pupil.on_roll.is_(True)).limit(15)):
        for flag in REGISTER_FLAGS:
            setattr(pupil, flag, True)
    session.flush()
    for surname in ("Quigley", "Gill", "Mensah"):
        record_at(sessions, session, days_ago(10), surname=surname)
    many = day.get_dashboard(session, DSL, 5, now=NOW)
    assert len(names(many, "early_help")) >= 15 and len(many["unactioned"]) == 4
    assert statements() == few
