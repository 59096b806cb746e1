"""The front sheet against real PostgreSQL: key details, flags, household, siblings, agencies, open
cases and counts; SLT without the safeguarding-only parts; adding household members and agencies."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from services.common.db import utcnow
from services.incidents.chronology import entries as chronology
from services.incidents.chronology import front_sheet as frontsheet
from services.incidents.follow_up import actions as records
from services.incidents.follow_up import cases
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import AgencyInvolvement, HouseholdMember
from services.incidents.record import access

from .conftest import DSL_USER, OTHER_SCHOOL, actor, count, pupil_id
from .test_records import DSL, RECORDER, SLT, call, clean_follow_up, record_incident  # noqa: F401

DSL_LONG_AGO = actor(DSL_USER, roles=("dsl",), second_factor=True, stepped_up=False, name="Dana Shah")


@pytest.fixture(autouse=True)
def clean_household(engine):
    """The demo roll's household members stay; what a test adds goes, as do agencies (none are seeded)."""
    with engine.connect() as conn:
        seeded = conn.execute(select(func.coalesce(func.max(HouseholdMember.id), 0))).scalar()
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM household_members WHERE id > :n"), {"n": seeded})
        conn.execute(text("DELETE FROM agency_involvements"))


@pytest.fixture
def pupil(session) -> int:
    return pupil_id(session, "O'Brien")  # the demo roll gives her a household and a sibling


def sheet(sessions, pupil, who=DSL) -> dict:
    with sessions() as s:
        return frontsheet.front_sheet(s, who, pupil)


def test_the_dsl_sees_key_details_flags_household_and_siblings(sessions, session, pupil):
    fs = sheet(sessions, pupil)
    assert fs["pupil"]["name"] == "Chloe O'Brien" and fs["pupil"]["upn"] == "H801000000002"
    assert fs["pupil"]["legal_surname"] == "O'Brien" and fs["pupil"]["sex"] == "F" and fs["pupil"]["on_roll"]
    assert fs["pupil"]["date_of_birth"] and fs["pupil"]["admission_date"] and fs["pupil"]["leaving_date"] is None
    assert fs["flags"] == {"cp_plan": False, "child_in_need": False, "looked_after": False,
                           "previously_looked_after": False, "early_help": False, "eal": False,
                           "free_school_meals": False,
                           "sen_status": "sen_support"}
    assert [(m["name"], m["relationship"], m["parental_responsibility"], m["lives_with_pupil"])
            for m in fs["household"]] == [("Sarah O'Brien", "Mother", True, True),
                                          ("Piotr Nowak", "Stepfather", False, True),
                                          ("Liam O'Brien", "Father", True, False)]
    assert [(s["id"], s["relationship"]) for s in fs["siblings"]] == [(pupil_id(session, "Nowak"), "sibling")]
    assert fs["agencies"] == [] and fs["open_cases"] == [] and fs["withheld"] == []
    assert fs["counts"] == {"incidents": 0, "open_actions": 0, "hidden_needing_step_up": 0}


def test_flags_of_a_pupil_on_a_plan(sessions, session):
    assert sheet(sessions, pupil_id(session, "Vaughan"))["flags"]["cp_plan"] is True


def test_counts_open_cases_and_what_slt_may_not_see(sessions, session, pupil):
    safeguarding = record_incident(sessions, session, surname="O'Brien", linked=())
    behaviour = record_incident(sessions, session, surname="Gill", category="Behaviour",
                                linked=(("O'Brien", "victim"),))
    for i in (safeguarding, behaviour):
        call(sessions, records.add_action, DSL, i["id"], {"description": "Follow up."})
    done = call(sessions, records.add_action, DSL, behaviour["id"], {"description": "Phone home."})
    call(sessions, records.complete_action, DSL, done["id"], {})
    case = call(sessions, cases.open_case, DSL, {"pupil_id": pupil, "title": "Home concerns", "owner_user_id": DSL_USER,
                                                 "owner_name": "Dana Shah", "incident_ids": [safeguarding["id"]]})
    closed = call(sessions, cases.open_case, DSL, {"pupil_id": pupil, "title": "Old", "owner_user_id": DSL_USER,
                                                   "owner_name": "Dana Shah"})
    call(sessions, cases.set_status, DSL, closed["id"], {"status": "closed", "reason": "Resolved."})
    call(sessions, frontsheet.add_agency_involvement, DSL, pupil, {"agency": "Early help", "started_on": "2025-09-01"})

    fs = sheet(sessions, pupil)
    assert fs["counts"] == {"incidents": 2, "open_actions": 2, "hidden_needing_step_up": 0}
    assert [(c["id"], c["title"], c["owner"]["name"]) for c in fs["open_cases"]] == [
        (case["id"], "Home concerns", "Dana Shah")]
    assert [a["agency"] for a in fs["agencies"]] == ["Early help"]

    slt = sheet(sessions, pupil, SLT)
    # the behaviour incident only
    assert slt["counts"] == {"incidents": 1, "open_actions": 1, "hidden_needing_step_up": 0}
    # No safeguarding flags, household or agencies for SLT (they had the flags and household once).
    assert not {"agencies", "open_cases", "flags", "household"} & set(slt)
    assert slt["withheld"] == ["flags", "household", "agencies", "open_cases"]


def test_counts_are_of_what_each_reader_may_see_now(sessions, session, pupil):
    """All (the DSL team), some (SLT: no safeguarding, no restricted records) and some now, the rest
    after a step-up (the DSL team long after their second factor); actions of records the reader
    does not see, completed actions and another pupil's incidents are never counted."""
    def actions_for(incident, open_, done=0):
        for _ in range(open_):
            call(sessions, records.add_action, DSL, incident["id"], {"description": "Follow up."})
        for _ in range(done):
            action = call(sessions, records.add_action, DSL, incident["id"], {"description": "Phone home."})
            call(sessions, records.complete_action, DSL, action["id"], {})

    safeguarding = record_incident(sessions, session, surname="O'Brien", linked=())
    as_victim = record_incident(sessions, session, surname="Gill", category="Behaviour", linked=(("O'Brien", "victim"),))
    restricted = record_incident(sessions, session, surname="O'Brien", category="Behaviour", linked=())
    not_hers = record_incident(sessions, session, surname="Gill", category="Behaviour", linked=())
    actions_for(safeguarding, 2, done=1)
    actions_for(as_victim, 1, done=1)
    actions_for(restricted, 1)
    actions_for(not_hers, 3)
    call(sessions, access.restrict_incident, DSL, restricted["id"], True, "Allegation about staff.")

    assert sheet(sessions, pupil)["counts"] == {"incidents": 3, "open_actions": 4, "hidden_needing_step_up": 0}
    assert sheet(sessions, pupil, SLT)["counts"] == {"incidents": 1, "open_actions": 1, "hidden_needing_step_up": 0}
    assert sheet(sessions, pupil, DSL_LONG_AGO)["counts"] == {"incidents": 2, "open_actions": 2,
                                                              "hidden_needing_step_up": 1}
    for who in (DSL, SLT, DSL_LONG_AGO):  # the same incidents as the reader's chronology lists
        with sessions() as s:
            listed = {e["incident_id"] for e in chronology.read_chronology(s, who, pupil)["entries"]
                      if e["entry_type"] == "incident"}
        assert sheet(sessions, pupil, who)["counts"]["incidents"] == len(listed)


def test_staff_and_other_schools_do_not_see_front_sheets(sessions, session, pupil):
    with pytest.raises(Forbidden):
        sheet(sessions, pupil, RECORDER)
    with pytest.raises(Forbidden):
        sheet(sessions, pupil, actor(DSL_USER, roles=("dsl",)))  # no second factor
    with pytest.raises(NotFound):
        sheet(sessions, pupil_id(session, school_id=OTHER_SCHOOL))


def test_adding_a_household_member(sessions, pupil):
    member = call(sessions, frontsheet.add_household_member, DSL, pupil,
                  {"name": "Gran (Maureen O'Brien)", "relationship": "Grandmother", "lives_with_pupil": False,
                   "contact": "07700 900123"})
    assert member["parental_responsibility"] is False and member["lives_with_pupil"] is False
    assert sheet(sessions, pupil)["household"][-1] == member

    before = count(sessions, HouseholdMember)
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, frontsheet.add_household_member, DSL, pupil,
             {"name": "", "relationship": " "})
    assert [e["field"] for e in caught.value.errors] == ["name", "relationship"]
    assert count(sessions, HouseholdMember) == before
    with pytest.raises(Forbidden):
        call(sessions, frontsheet.add_household_member, SLT, pupil, {"name": "A", "relationship": "Aunt"})


def test_adding_agencies_current_ones_first(sessions, pupil):
    today = utcnow().date()
    ended = call(sessions, frontsheet.add_agency_involvement, DSL, pupil,
                 {"agency": "CAMHS", "started_on": "2024-01-10", "ended_on": "2024-07-01"})
    current = call(sessions, frontsheet.add_agency_involvement, DSL, pupil,
                   {"agency": "Children's social care", "contact": "A. Worker, 01632 960000",
                    "started_on": "2025-02-03"})
    assert ended["current"] is False and current["current"] is True
    assert [a["id"] for a in sheet(sessions, pupil)["agencies"]] == [current["id"], ended["id"]]

    before = count(sessions, AgencyInvolvement)
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, frontsheet.add_agency_involvement, DSL, pupil,
             {"agency": " ", "started_on": (today + timedelta(days=1)).isoformat(), "ended_on": "2020-01-01"})
    assert [e["field"] for e in caught.value.errors] == ["agency", "started_on", "ended_on"]
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, frontsheet.add_agency_involvement, DSL, pupil, {"agency": "Police", "started_on": "1/2/25"})
    assert [e["field"] for e in caught.value.errors] == ["started_on"]
    assert count(sessions, AgencyInvolvement) == before
    with pytest.raises(Forbidden):
        call(sessions, frontsheet.add_agency_involvement, RECORDER, pupil, {"agency": "Police"})
