"""Cases against real PostgreSQL: the DSL team opens one over a pupil's incidents, adds incidents,
changes the owner and the status; every change is in the history and the pupil's chronology."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from services.common.errors import Conflict
from services.incidents.follow_up import cases
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import Case, CaseEvent, CaseIncident, ChronologyEntry

from .conftest import DSL_USER, OTHER_SCHOOL, count, pupil_id
from .test_records import (DSL, RECORDER, SLT, call, clean_follow_up, record_incident)  # noqa: F401

DEPUTY = 21


@pytest.fixture
def pupil(session) -> int:
    return pupil_id(session, "Quigley")


@pytest.fixture
def incidents(sessions, session) -> list[dict]:
    """Two safeguarding incidents about the pupil, one in which they are linked, and one not about them."""
    return [record_incident(sessions, session, linked=()),
            record_incident(sessions, session, category="Behaviour", linked=()),
            record_incident(sessions, session, surname="Gill", linked=(("Quigley", "victim"),)),
            record_incident(sessions, session, surname="Gill", linked=())]


def open_case(sessions, pupil, incident_ids, **extra) -> dict:
    return call(sessions, cases.open_case, DSL, {"pupil_id": pupil, "title": "Neglect concerns, autumn term",
                                                 "owner_user_id": DSL_USER, "owner_name": "Dana Shah",
                                                 "incident_ids": incident_ids, **extra})


def case_lines(sessions) -> list[tuple]:
    with sessions() as s:
        return s.execute(select(ChronologyEntry.pupil_id, ChronologyEntry.title, ChronologyEntry.incident_id,
                                ChronologyEntry.sensitivities)
                         .where(ChronologyEntry.entry_type == "case").order_by(ChronologyEntry.id)).all()


def test_dsl_opens_a_case_over_the_pupils_incidents_including_those_they_are_linked_in(sessions, pupil, incidents):
    ids = [incidents[0]["id"], incidents[1]["id"], incidents[2]["id"]]
    case = open_case(sessions, pupil, ids)
    assert case["status"] == "open" and case["owner"] == {"id": DSL_USER, "name": "Dana Shah"}
    assert case["pupil"]["id"] == pupil and case["incident_count"] == 3
    assert sorted(i["id"] for i in case["incidents"]) == sorted(ids)
    assert [h["what"] for h in case["history"]] == [f"Case opened, owner Dana Shah, with incidents "
                                                    f"{', '.join(map(str, ids))}"]
    assert case["history"][0]["by"]["name"] == "Dana Shah"
    # One line in the pupil's chronology, for the DSL team only (safeguarding) whatever the categories.
    (line,) = case_lines(sessions)
    assert line[:3] == (pupil, "Case opened: Neglect concerns, autumn term", None)
    assert "safeguarding" in line[3] and "behaviour" in line[3]


def test_every_case_error_is_reported_and_nothing_is_saved(sessions, pupil, incidents):
    before = [count(sessions, t) for t in (Case, CaseIncident, CaseEvent, ChronologyEntry)]
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, cases.open_case, DSL, {"pupil_id": pupil, "title": " ", "owner_user_id": DSL_USER,
                                              "incident_ids": [incidents[3]["id"], 999_999, incidents[0]["id"],
                                                               incidents[0]["id"]]})
    errors = caught.value.errors
    assert [e["field"] for e in errors] == ["title", "owner_user_id", "incident_ids.0", "incident_ids.1",
                                            "incident_ids.3"]
    assert "not about this pupil" in errors[2]["message"] and "twice" in errors[4]["message"]
    assert [count(sessions, t) for t in (Case, CaseIncident, CaseEvent, ChronologyEntry)] == before
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, cases.open_case, DSL, {"pupil_id": 999_999, "title": "x", "owner_user_id": DSL_USER,
                                              "owner_name": "Dana Shah"})
    assert [e["field"] for e in caught.value.errors] == ["pupil_id"]


@pytest.mark.parametrize("who", [RECORDER, SLT], ids=["teacher", "slt"])
def test_only_the_dsl_team_manages_cases(sessions, pupil, incidents, who):
    with pytest.raises(Forbidden):
        call(sessions, cases.open_case, who, {"pupil_id": pupil, "title": "x", "owner_user_id": DSL_USER,
                                              "owner_name": "Dana Shah"})
    case = open_case(sessions, pupil, [])
    with sessions() as s:
        for fn, args in ((cases.get_case, (case["id"],)), (cases.list_cases, ()),
                         (cases.set_status, (case["id"], {"status": "closed", "reason": "done"}))):
            with pytest.raises(Forbidden):
                fn(s, who, *args)


def test_adding_an_incident_changing_the_owner_and_closing(sessions, pupil, incidents):
    case = open_case(sessions, pupil, [incidents[0]["id"]])
    case = call(sessions, cases.add_incident, DSL, case["id"], incidents[2]["id"])
    assert case["incident_count"] == 2
    with pytest.raises(Conflict):
        call(sessions, cases.add_incident, DSL, case["id"], incidents[2]["id"])
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, cases.add_incident, DSL, case["id"], incidents[3]["id"])
    assert [e["field"] for e in caught.value.errors] == ["incident_id"]

    with pytest.raises(ValidationFailed) as caught:
        call(sessions, cases.change_owner, DSL, case["id"], {"owner_user_id": DSL_USER, "owner_name": "Dana Shah"})
    assert "already owns" in caught.value.errors[0]["message"]
    case = call(sessions, cases.change_owner, DSL, case["id"], {"owner_user_id": DEPUTY, "owner_name": "Dee Lowe"})
    assert case["owner"] == {"id": DEPUTY, "name": "Dee Lowe"}

    with pytest.raises(ValidationFailed) as caught:
        call(sessions, cases.set_status, DSL, case["id"], {"status": "closed"})
    assert [e["field"] for e in caught.value.errors] == ["reason"]
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, cases.set_status, DSL, case["id"], {"status": "open", "reason": "still open"})
    assert [e["field"] for e in caught.value.errors] == ["status"]
    case = call(sessions, cases.set_status, DSL, case["id"],
                {"status": "no_further_action", "reason": "Family engaging with early help."})
    assert case["status"] == "no_further_action" and case["closed_at"]
    case = call(sessions, cases.set_status, DSL, case["id"], {"status": "open", "reason": "New disclosure."})
    assert case["status"] == "open" and case["closed_at"] is None

    history = case["history"]
    assert [h["what"] for h in history[1:]] == [
        f"Incident {incidents[2]['id']} added", "Owner changed from Dana Shah to Dee Lowe",
        "Status changed from open to no further action", "Status changed from no further action to open"]
    assert [h["reason"] for h in history[3:]] == ["Family engaging with early help.", "New disclosure."]
    assert [(title, incident_id) for _, title, incident_id, _ in case_lines(sessions)] == [
        ("Case opened: Neglect concerns, autumn term", None),
        ("Incident added to case: Neglect concerns, autumn term", incidents[2]["id"]),
        ("Case owner changed to Dee Lowe: Neglect concerns, autumn term", None),
        ("Case closed with no further action: Neglect concerns, autumn term", None),
        ("Case reopened: Neglect concerns, autumn term", None)]


def test_listing_cases_by_status(sessions, session, pupil, incidents):
    first = open_case(sessions, pupil, [incidents[0]["id"]])
    second = open_case(sessions, pupil_id(session, "Gill"), [incidents[3]["id"]], title="Online safety")
    call(sessions, cases.set_status, DSL, first["id"], {"status": "closed", "reason": "Resolved."})
    with sessions() as s:
        assert [c["id"] for c in cases.list_cases(s, DSL, "open")] == [second["id"]]
        assert [c["id"] for c in cases.list_cases(s, DSL, "closed")] == [first["id"]]
        assert [c["id"] for c in cases.list_cases(s, DSL)] == [second["id"], first["id"]]
        assert [c["id"] for c in cases.list_cases(s, DSL, pupil_id=pupil)] == [first["id"]]
        assert cases.list_cases(s, DSL, "open")[0]["incident_count"] == 1
        elsewhere = dataclasses.replace(DSL, school_id=OTHER_SCHOOL)
        assert cases.list_cases(s, elsewhere) == []
        with pytest.raises(NotFound):
            cases.get_case(s, elsewhere, first["id"])
