"""Amendments: corrections with a reason, by the recorder or the DSL team; the original row never changes."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.common.contracts.incidents import IncidentAmended
from services.common.db import utcnow
from services.incidents.record import amendments
from services.incidents.record import incidents as domain
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import Amendment, ChronologyEntry, Incident, OutboxEvent

from .conftest import new_record, DSL_USER, OTHER_SCHOOL, OTHER_TEACHER, SLT_USER, TEACHER, actor, category_id, count, pupil_id
from .test_record_incident import ACCOUNT, clean_record_tables  # noqa: F401  (autouse: clears linked rows)

RECORDER = actor(TEACHER, name="Tom Archer")
DSL = actor(DSL_USER, roles=("dsl",), second_factor=True, name="Dana Shah")


@pytest.fixture
def incident(sessions, session) -> dict:
    data = {"pupil_id": pupil_id(session, "Quigley"), "occurred_at": "2026-01-05T09:30:00Z", "account": ACCOUNT,
            "category_ids": [category_id(session, "Safeguarding")], "location": "Playground",
            "linked_pupils": [{"pupil_id": pupil_id(session, "Gill"), "role": "witness"}]}
    with sessions.begin() as s:
        return domain.record_incident(s, RECORDER, new_record(data))


def amend(sessions, incident_id, data, who=RECORDER) -> dict:
    with sessions.begin() as s:
        return amendments.amend_incident(s, who, incident_id, data)


def read(sessions, incident_id, who=DSL) -> dict:
    with sessions() as s:
        return domain.get_incident(s, who, incident_id)


def counts(sessions) -> tuple:
    return tuple(count(sessions, m) for m in (Amendment, ChronologyEntry, OutboxEvent))


def refused(sessions, incident_id, data, who=RECORDER) -> list[dict]:
    before = counts(sessions)
    with pytest.raises(ValidationFailed) as caught:
        amend(sessions, incident_id, data, who)
    assert counts(sessions) == before
    return caught.value.errors


CORRECTION = {"field": "account", "new_value": "Jo said her uncle hit her with a belt on Friday.",
              "reason": "I wrote the wrong day."}


def test_the_recorder_corrects_the_account_and_the_original_row_is_unchanged(sessions, incident):
    result = amend(sessions, incident["id"], CORRECTION)
    amendment = result["amendment"]
    assert amendment["field"] == "account" and amendment["new_value"] == CORRECTION["new_value"]
    assert amendment["reason"] == "I wrote the wrong day."
    assert amendment["author"] == {"id": TEACHER, "name": "Tom Archer"}
    assert amendment["created_at"].endswith("Z") and amendment["id"]
    with sessions() as s:
        assert s.get(Incident, incident["id"]).account == ACCOUNT


def test_the_dsl_sees_the_original_the_current_values_and_the_history(sessions, incident):
    amend(sessions, incident["id"], CORRECTION)
    seen = read(sessions, incident["id"], DSL)
    assert seen["shows_original"] is True
    assert seen["account"] == ACCOUNT
    assert seen["current"]["account"] == CORRECTION["new_value"]
    assert seen["current"]["location"] == "Playground"
    assert [a["reason"] for a in seen["amendments"]] == ["I wrote the wrong day."]


def test_other_readers_see_the_current_record_and_the_history(sessions, incident):
    amend(sessions, incident["id"], CORRECTION)
    seen = read(sessions, incident["id"], RECORDER)
    assert seen["shows_original"] is False
    assert seen["account"] == CORRECTION["new_value"] == seen["current"]["account"]
    assert ACCOUNT not in json.dumps(seen)
    assert len(seen["amendments"]) == 1


def test_the_latest_amendment_to_each_field_applies(sessions, incident):
    amend(sessions, incident["id"], {"field": "location", "new_value": "Year 4 cloakroom", "reason": "Was not outside"})
    amend(sessions, incident["id"], {"field": "location", "new_value": "Year 3 cloakroom", "reason": "Checked the rota"},
          DSL)
    amend(sessions, incident["id"], {"field": "childs_words", "new_value": "\"it was uncle\"", "reason": "Left out"})
    seen = read(sessions, incident["id"])
    assert seen["location"] == "Playground"
    assert seen["current"]["location"] == "Year 3 cloakroom"
    assert seen["current"]["childs_words"] == "\"it was uncle\""
    assert seen["current"]["account"] == ACCOUNT
    assert [a["author"]["name"] for a in seen["amendments"]] == ["Tom Archer", "Dana Shah", "Tom Archer"]


def test_an_optional_field_can_be_emptied(sessions, incident):
    result = amend(sessions, incident["id"], {"field": "location", "new_value": "", "reason": "Not known after all"})
    assert result["amendment"]["new_value"] is None
    assert result["incident"]["current"]["location"] is None


def test_when_it_happened_can_be_corrected_and_its_chronology_lines_follow(sessions, incident):
    result = amend(sessions, incident["id"], {"field": "occurred_at", "new_value": "2026-01-04T15:10:00+00:00",
                                              "reason": "It was the day before"})
    assert result["incident"]["current"]["occurred_at"] == "2026-01-04T15:10:00Z"
    with sessions() as s:
        assert s.get(Incident, incident["id"]).occurred_at == datetime(2026, 1, 5, 9, 30)
        lines = s.scalars(select(ChronologyEntry).where(ChronologyEntry.entry_type == "incident")).all()
    assert len(lines) == 2 and {e.occurred_at for e in lines} == {datetime(2026, 1, 4, 15, 10)}


def test_what_is_recorded_can_be_corrected_and_the_title_follows(sessions, incident):
    result = amend(sessions, incident["id"], {"field": "record_type", "new_value": "disclosure",
                                              "reason": "She told me directly"})
    assert result["incident"]["current"]["record_type_label"] == "Disclosure or conversation with the child"
    assert read(sessions, incident["id"])["record_type"] == "observation"
    with sessions() as s:
        titles = set(s.scalars(select(ChronologyEntry.title).where(ChronologyEntry.entry_type == "incident")))
    assert titles == {"Disclosure — Safeguarding"}


def test_the_amendment_event_names_who_recorded_the_record_so_they_hear_of_anothers_correction(sessions, incident):
    amend(sessions, incident["id"], CORRECTION, who=DSL)
    with sessions() as s:
        body = json.loads(s.scalars(select(OutboxEvent.body).where(OutboxEvent.event_type == "incident_amended")).one())
    assert (body["amended_by"], body["recorded_by"]) == (DSL_USER, TEACHER)


def test_an_amendment_goes_in_each_chronology_the_incident_is_in_and_is_announced_by_ids(sessions, incident):
    result = amend(sessions, incident["id"], CORRECTION)
    with sessions() as s:
        entries = s.scalars(select(ChronologyEntry).where(ChronologyEntry.entry_type == "amendment")
                            .order_by(ChronologyEntry.id)).all()
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "incident_amended")).one()
    entry, linked = entries  # the pupil's, then the linked witness's
    assert (linked.pupil_id, linked.role) == (incident["linked_pupils"][0]["pupil"]["id"], "witness")
    assert entry.pupil_id == incident["pupil_id"] and entry.role is None
    assert entry.incident_id == incident["id"] and entry.ref_id == str(result["amendment"]["id"])
    assert entry.title == "Record amended — Account" and entry.sensitivities == ["safeguarding"]
    body = json.loads(event.body)
    assert body["incident_id"] == incident["id"] and body["field"] == "account"
    IncidentAmended.model_validate(body)
    assert "belt" not in event.body and "wrong day" not in event.body


# --- what is refused --------------------------------------------------------------------------

@pytest.mark.parametrize("reason", [None, "", "   ", "typo"])
def test_a_reason_is_required(sessions, incident, reason):
    errors = refused(sessions, incident["id"], {**CORRECTION, "reason": reason})
    assert errors == [{"field": "reason", "message": "Say why you are correcting the record (at least 5 characters)."}]


def test_the_new_value_is_checked_like_the_original(sessions, incident):
    future = (utcnow() + timedelta(days=2)).isoformat() + "Z"
    assert refused(sessions, incident["id"], {"field": "occurred_at", "new_value": future, "reason": "Wrong date"}) == [
        {"field": "new_value", "message": "The date and time cannot be in the future."}]
    assert refused(sessions, incident["id"], {"field": "account", "new_value": "  ", "reason": "Wrong words"}) == [
        {"field": "new_value", "message": "Write what you saw, heard or were told."}]
    assert [e["field"] for e in refused(sessions, incident["id"], {
        "field": "record_type", "new_value": "rumour", "reason": "Wrong type"})] == ["new_value"]
    assert [e["field"] for e in refused(sessions, incident["id"], {
        "field": "location", "new_value": "x" * 201, "reason": "Wrong place"})] == ["new_value"]


def test_an_amendment_that_changes_nothing_is_refused(sessions, incident):
    errors = refused(sessions, incident["id"], {"field": "location", "new_value": " Playground ", "reason": "Same again"})
    assert errors == [{"field": "new_value",
                       "message": "That is what the record already says. Change it, or cancel the correction."}]


def test_every_error_is_reported_together(sessions, incident):
    errors = refused(sessions, incident["id"], {"field": "account", "new_value": "", "reason": ""})
    assert [e["field"] for e in errors] == ["new_value", "reason"]


def test_who_may_amend(sessions, session, incident):
    # Another teacher cannot even read it; SLT may read behaviour records but never amend another's.
    with pytest.raises(Forbidden):
        amend(sessions, incident["id"], CORRECTION, actor(OTHER_TEACHER))
    with sessions.begin() as s:
        behaviour = domain.record_incident(s, RECORDER, new_record({
            "pupil_id": pupil_id(s, "Quigley"), "occurred_at": "2026-01-05T09:30:00Z", "account": ACCOUNT,
            "category_ids": [category_id(s, "Behaviour")]}))
    slt = actor(SLT_USER, roles=("slt",), second_factor=True)
    assert read(sessions, behaviour["id"], slt)["id"] == behaviour["id"]
    with pytest.raises(Forbidden) as caught:
        amend(sessions, behaviour["id"], CORRECTION, slt)
    assert "recorded this, or the DSL team" in caught.value.message
    # A DSL who has not given the second factor is not yet the DSL team.
    with pytest.raises(Forbidden):
        amend(sessions, incident["id"], CORRECTION, actor(DSL_USER, roles=("dsl",)))
    assert count(sessions, Amendment) == 0
    assert amend(sessions, incident["id"], CORRECTION, DSL)["amendment"]["author"]["id"] == DSL_USER
    assert amend(sessions, behaviour["id"], CORRECTION, RECORDER)["amendment"]["author"]["id"] == TEACHER


def test_unknown_or_other_schools_incident_is_not_found(sessions, incident):
    with pytest.raises(NotFound):
        amend(sessions, 999_999, CORRECTION, DSL)
    with pytest.raises(NotFound):
        amend(sessions, incident["id"], CORRECTION, actor(DSL_USER, roles=("dsl",), second_factor=True,
                                                          school_id=OTHER_SCHOOL))
    with pytest.raises(NotFound):
        amend(sessions, "1", CORRECTION, DSL)
