"""The DSL team's one-line summary of an incident (what its chronology lines show them): who may write
it, that it is not an amendment (the record is untouched), and that it is the DSL team's alone."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.common.contracts import incidents as contract
from services.common.errors import StepUpRequired
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.follow_up import summaries
from services.incidents.models import Amendment, ChronologyEntry, Incident, IncidentExclusion, IncidentSummary, OutboxEvent
from services.incidents.record import incidents as record

from .conftest import (DSL_USER, OTHER_SCHOOL, SLT_USER, TEACHER, actor, category_id, count, new_record, pupil_id,
                       through_contract)

DSL = actor(DSL_USER, roles=("dsl",), second_factor=True, name="Dana Shah")
DSL_LAPSED = actor(DSL_USER, roles=("dsl",), second_factor=True, stepped_up=False, name="Dana Shah")
DEPUTY = actor(21, roles=("dsl",), second_factor=True, name="Dev Deputy")
RECORDER = actor(TEACHER, name="Tom Archer")
SLT = actor(SLT_USER, roles=("slt",), second_factor=True)
ELSEWHERE_DSL = actor(99, roles=("dsl",), second_factor=True, school_id=OTHER_SCHOOL)
ACCOUNT = "Said she had no breakfast again and was hungry all morning."


@pytest.fixture
def incident(sessions, session) -> int:
    data = {"pupil_id": pupil_id(session, "Quigley"), "occurred_at": "2026-01-05T09:30:00Z", "account": ACCOUNT,
            "category_ids": [category_id(session, "Neglect")]}
    with sessions.begin() as s:
        return record.record_incident(s, RECORDER, new_record(data))["id"]


def summarise(sessions, who, incident_id, summary):
    with sessions.begin() as s:
        return summaries.set_incident_summary(s, who, incident_id, summary)


def written(sessions) -> tuple:
    """What a summary must not add to: corrections, chronology lines, events."""
    return tuple(count(sessions, model) for model in (Amendment, ChronologyEntry, OutboxEvent))


def test_the_dsl_writes_replaces_and_clears_a_summary_without_touching_the_record(sessions, incident):
    before = written(sessions)
    assert summarise(sessions, DSL, incident, "  Missed meals,\nthird time  ") == {
        "incident_id": incident, "summary": "Missed meals, third time"}  # one line
    assert summarise(sessions, DEPUTY, incident, "Missed meals again") == {"incident_id": incident,
                                                                           "summary": "Missed meals again"}
    with sessions() as s:
        row = s.get(IncidentSummary, incident)
        assert (row.summary, row.set_by, row.set_by_name) == ("Missed meals again", 21, "Dev Deputy")
        assert s.get(Incident, incident).account == ACCOUNT
    assert written(sessions) == before  # not an amendment, not a new line, no event

    assert summarise(sessions, DSL, incident, " ") == {"incident_id": incident, "summary": None}
    assert count(sessions, IncidentSummary) == 0
    assert summarise(sessions, DSL, incident, "") == {"incident_id": incident, "summary": None}  # already clear


def test_the_dsls_view_of_the_record_carries_the_summary_and_no_one_elses_does(sessions, incident):
    summarise(sessions, DSL, incident, "Missed meals")
    with sessions() as s:
        assert record.get_incident(s, DSL, incident)["summary"] == "Missed meals"
        assert "summary" not in record.get_incident(s, RECORDER, incident)


@pytest.mark.parametrize("who", [RECORDER, SLT], ids=["recorder", "slt"])
def test_only_the_dsl_team_writes_a_summary(sessions, incident, who):
    with pytest.raises(Forbidden):
        summarise(sessions, who, incident, "My summary")
    assert count(sessions, IncidentSummary) == 0


def test_a_record_that_does_not_exist_for_the_dsl_cannot_be_summarised(sessions, incident):
    with pytest.raises(NotFound):
        summarise(sessions, ELSEWHERE_DSL, incident, "Elsewhere")
    with pytest.raises(NotFound):
        summarise(sessions, DSL, 999_999, "No such record")
    with sessions.begin() as s:
        s.add(IncidentExclusion(incident_id=incident, user_id=DSL_USER))
    with pytest.raises(NotFound):
        summarise(sessions, DSL, incident, "About me")
    assert count(sessions, IncidentSummary) == 0


def test_summarising_a_safeguarding_record_needs_a_recent_second_factor(sessions, incident):
    with pytest.raises(StepUpRequired):
        summarise(sessions, DSL_LAPSED, incident, "Missed meals")
    assert count(sessions, IncidentSummary) == 0


def test_the_contract_keeps_a_summary_to_300_characters(sessions, incident):
    with pytest.raises(ValidationFailed) as refused:
        through_contract(contract.set_incident_summary, incident_id=incident, summary="x" * 301)
    assert [e["field"] for e in refused.value.errors] == ["summary"]
    checked = through_contract(contract.set_incident_summary, incident_id=incident, summary="x" * 300)
    assert summarise(sessions, DSL, checked["incident_id"], checked["summary"])["summary"] == "x" * 300
    with sessions() as s:
        assert s.scalar(select(IncidentSummary.summary)) == "x" * 300
