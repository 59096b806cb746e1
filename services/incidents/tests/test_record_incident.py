"""record_incident against real PostgreSQL: the checks that need the roll and the categories, the
outbox event, time zones, linked pupils and their roles, the body map, warnings about full names, the
chronology lines. Each record goes through the contract first, as in the service; the form's own
rules (types, lengths, word lists, dates, marks on the body) are tested in test_contract.py."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from services.common.actor import Actor
from services.common.contracts import incidents as incidents_contract
from services.common.contracts.incidents import MAX_ACCOUNT_CHARS
from services.common.db import utcnow
from services.incidents.record import incidents as domain
from services.incidents.exceptions import ValidationFailed
from services.incidents.models import (BodyMapMark, ChronologyEntry, Incident, IncidentAlert, IncidentCategory,
                                       LinkedPupil, OutboxEvent)

from .conftest import (OTHER_SCHOOL, OTHER_TEACHER, SCHOOL, actor, category_id, count, new_record, pupil_id,
                       through_contract)

ACCOUNT = "Jo said her uncle hit her with a belt on Saturday; bruise on left forearm."
TABLES = (Incident, IncidentCategory, IncidentAlert, OutboxEvent, LinkedPupil, BodyMapMark, ChronologyEntry)
# Rows that point at incidents; the shared `sessions` fixture only clears the foundation's tables.
RECORD_TABLES = ("amendments", "body_map_marks", "linked_pupils", "chronology")


@pytest.fixture(autouse=True)
def clean_record_tables(engine):
    """Runs before `sessions` (autouse fixtures come first) and after the test, so incidents can be deleted."""
    def clean():
        with engine.begin() as conn:
            for table in RECORD_TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
    clean()
    yield
    clean()


@pytest.fixture
def valid(session) -> dict:
    return {"pupil_id": pupil_id(session, "Quigley"), "occurred_at": "2026-01-05T09:30:00Z",
            "account": ACCOUNT, "category_ids": [category_id(session, "Behaviour")],
            "alert_user_ids": [], "alert_groups": [], "urgent": False}


def record(sessions, data, who=None) -> dict:
    with sessions.begin() as session:
        return domain.record_incident(session, who or actor(), new_record(data))


def rows(sessions) -> dict:
    return {model.__name__: count(sessions, model) for model in TABLES}


def refused(sessions, data, who=None) -> list[dict]:
    """The errors record_incident reports; also checks nothing at all was written."""
    before = rows(sessions)
    with pytest.raises(ValidationFailed) as caught:
        record(sessions, data, who)
    assert rows(sessions) == before
    return caught.value.errors


def fields(errors) -> list[str]:
    return [e["field"] for e in errors]


# --- the pupil --------------------------------------------------------------------------------

def test_pupil_from_another_school_is_refused(sessions, session, valid):
    errors = refused(sessions, {**valid, "pupil_id": pupil_id(session, school_id=OTHER_SCHOOL)})
    assert errors == [{"field": "pupil_id",
                       "message": "That pupil is not on this school's roll. Choose the pupil from the list."}]


def test_unknown_pupil_is_refused(sessions, valid):
    assert fields(refused(sessions, {**valid, "pupil_id": 999_999})) == ["pupil_id"]


def test_pupil_who_has_left_the_roll_is_refused(sessions, session, valid):
    errors = refused(sessions, {**valid, "pupil_id": pupil_id(session, on_roll=False)})
    assert fields(errors) == ["pupil_id"]
    assert "left the roll" in errors[0]["message"]


# --- when it happened -------------------------------------------------------------------------

def test_occurred_at_a_minute_ahead_is_allowed_for_clock_skew(sessions, valid):
    soon = (utcnow() + timedelta(minutes=1)).isoformat() + "Z"
    assert record(sessions, {**valid, "occurred_at": soon})["id"]


def test_occurred_at_with_an_offset_is_stored_in_utc(sessions, valid):
    result = record(sessions, {**valid, "occurred_at": "2025-06-10T09:30:00+01:00"})
    assert result["occurred_at"] == "2025-06-10T08:30:00Z"
    with sessions() as session:
        assert session.get(Incident, result["id"]).occurred_at == datetime(2025, 6, 10, 8, 30)


def test_occurred_at_with_z_and_without_offset_are_taken_as_utc(sessions, valid):
    assert record(sessions, {**valid, "occurred_at": "2025-01-10T09:30:00Z"})["occurred_at"] == \
        "2025-01-10T09:30:00Z"
    assert record(sessions, {**valid, "occurred_at": "2025-01-10T09:30"})["occurred_at"] == \
        "2025-01-10T09:30:00Z"


# --- the account ------------------------------------------------------------------------------

def test_account_at_the_limit_is_kept_and_trimmed(sessions, valid):
    text_ = "y" * MAX_ACCOUNT_CHARS
    assert record(sessions, {**valid, "account": text_})["account"] == text_
    assert record(sessions, {**valid, "account": "  seen at gate  \n"})["account"] == "seen at gate"


# --- categories -------------------------------------------------------------------------------

def test_no_category_is_refused(sessions, valid):
    errors = refused(sessions, {**valid, "category_ids": []})
    assert errors == [{"field": "category_ids", "message": "Choose at least one category."}]
    data = dict(valid)
    del data["category_ids"]
    assert fields(refused(sessions, data)) == ["category_ids"]


def test_three_categories_are_accepted(sessions, session, valid):
    ids = [category_id(session, n) for n in ("Behaviour", "Bullying", "Attendance")]
    result = record(sessions, {**valid, "category_ids": ids[:3]})
    assert sorted(c["name"] for c in result["categories"]) == ["Attendance", "Behaviour", "Bullying"]


def test_repeated_category_counts_once(sessions, session, valid):
    behaviour = category_id(session, "Behaviour")
    result = record(sessions, {**valid, "category_ids": [behaviour, behaviour]})
    assert [c["id"] for c in result["categories"]] == [behaviour]


@pytest.mark.parametrize("which", ["inactive", "unknown", "other-school"])
def test_unusable_category_is_refused(sessions, session, valid, which):
    bad = {"inactive": category_id(session, "Retired category"), "unknown": 999_999,
           "other-school": category_id(session, "Safeguarding", school_id=OTHER_SCHOOL)}[which]
    errors = refused(sessions, {**valid, "category_ids": [category_id(session, "Behaviour"), bad]})
    assert errors == [{"field": "category_ids",
                       "message": "One of the chosen categories does not exist or is no longer in use."}]


# --- who is alerted, urgency ------------------------------------------------------------------

def test_urgent_defaults_to_false(sessions, valid):
    data = dict(valid)
    del data["urgent"]
    assert record(sessions, data)["urgent"] is False


def test_every_error_is_reported_together_and_nothing_is_saved(sessions, session, valid):
    record(sessions, valid)  # something already in every table, to show it is left alone
    gill = pupil_id(session, "Gill")
    errors = refused(sessions, {**valid, "pupil_id": pupil_id(session, school_id=OTHER_SCHOOL), "category_ids": [],
                                "linked_pupils": [{"pupil_id": gill, "role": "victim"},
                                                  {"pupil_id": pupil_id(session, on_roll=False), "role": "victim"}],
                                "dsl_informed_verbally": True})
    assert fields(errors) == ["pupil_id", "category_ids", "linked_pupils.1", "dsl_informed_user_id"]
    assert rows(sessions) == {"Incident": 1, "IncidentCategory": 1, "IncidentAlert": 1, "OutboxEvent": 1,
                              "LinkedPupil": 0, "BodyMapMark": 0, "ChronologyEntry": 1}


# --- what a saved incident writes -------------------------------------------------------------

def test_saved_incident_writes_its_rows_and_exactly_one_event_without_the_account(sessions, session, valid):
    bullying = category_id(session, "Bullying")
    recorder = actor(name="Tess Teacher")
    result = record(sessions, {**valid, "category_ids": [valid["category_ids"][0], bullying],
                               "alert_user_ids": [31, 32, 31], "urgent": True}, recorder)

    assert result["pupil_id"] == valid["pupil_id"]
    assert result["pupil"]["name"] == "Quinn Quigley"
    assert result["recorded_by"] == {"id": recorder.user_id, "name": "Tess Teacher", "role": None}
    assert result["account"] == ACCOUNT
    assert result["urgent"] is True
    assert result["alert_user_ids"] == [31, 32]
    assert result["alert_groups"] == ["slt"]  # Behaviour and Bullying's default group, once
    assert rows(sessions) == {"Incident": 1, "IncidentCategory": 2, "IncidentAlert": 3, "OutboxEvent": 1,
                              "LinkedPupil": 0, "BodyMapMark": 0, "ChronologyEntry": 1}

    with sessions() as s:
        outbox = s.scalars(select(OutboxEvent)).one()
    assert outbox.event_type == "incident_recorded"
    assert outbox.published_at is None
    event = json.loads(outbox.body)
    assert event["event_id"] == outbox.event_id
    assert datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).tzinfo is not None
    assert event["school_id"] == SCHOOL
    assert event["incident_id"] == result["id"]
    assert event["pupil_id"] == valid["pupil_id"]
    assert event["category_ids"] == [valid["category_ids"][0], bullying]
    assert event["urgent"] is True
    assert "account" not in event
    assert "belt" not in outbox.body and "bruise" not in outbox.body
    assert "Quigley" not in outbox.body


def test_each_incident_gets_its_own_event_id(sessions, valid):
    record(sessions, valid)
    record(sessions, valid)
    with sessions() as s:
        ids = s.scalars(select(OutboxEvent.event_id)).all()
    assert len(ids) == 2 and len(set(ids)) == 2


def test_safeguarding_category_always_alerts_the_dsl(sessions, session, valid):
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Safeguarding")],
                               "alert_groups": []})
    assert result["alert_groups"] == ["dsl"]
    with sessions() as s:
        event = json.loads(s.scalars(select(OutboxEvent.body)).one())
    assert event["alert_groups"] == ["dsl"]
    assert event["category_names"] == ["Safeguarding"]


def test_chosen_groups_are_kept_alongside_the_category_default(sessions, session, valid):
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Online safety")],
                               "alert_groups": ["slt", "slt"]})
    assert result["alert_groups"] == ["slt", "dsl"]


def test_a_category_without_defaults_alerts_only_whom_the_recorder_chose(sessions, session, valid):
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Medical")],
                               "alert_groups": [], "alert_user_ids": []})
    assert result["alert_groups"] == [] and result["alert_user_ids"] == []


def test_incident_belongs_to_the_actors_school(sessions, valid):
    result = record(sessions, valid)
    with sessions() as s:
        assert s.get(Incident, result["id"]).school_id == SCHOOL


# --- what is being recorded, where, the child's words, who else was there --------------------

def test_new_fields_default_sensibly_so_the_old_form_keeps_working(sessions, valid):
    result = record(sessions, valid)
    assert result["record_type"] == "observation" and result["record_type_label"] == "Observation"
    assert result["location"] is None and result["childs_words"] is None and result["others_present"] is None
    assert result["dsl_informed"] == {"verbally": False, "user_id": None, "name": None}
    assert result["linked_pupils"] == [] and result["body_map"] == [] and result["amendments"] == []
    assert result["warnings"] == []


def test_the_full_record_is_kept_and_read_back(sessions, valid):
    recorder = Actor(user_id=10, school_id=SCHOOL, name="Tom Archer", roles=("staff",),
                     job_title="Class Teacher, Year 4")
    words = "  He said \"my dad's belt\" — and then 'don't tell'.\n"
    result = record(sessions, {**valid, "record_type": "disclosure", "location": " Year 4 cloakroom ",
                               "childs_words": words, "others_present": "Mrs Bell (TA)"}, recorder)
    assert result["record_type_label"] == "Disclosure or conversation with the child"
    assert result["location"] == "Year 4 cloakroom"
    assert result["childs_words"] == words.strip()
    assert result["others_present"] == "Mrs Bell (TA)"
    # The role comes from the recorder's account, never from what was typed.
    assert result["recorded_by"] == {"id": 10, "name": "Tom Archer", "role": "Class Teacher, Year 4"}
    with sessions() as s:
        assert domain.get_incident(s, recorder, result["id"]) == {
            k: v for k, v in result.items() if k != "warnings"}


@pytest.mark.parametrize("field,limit", [("location", 200), ("childs_words", 20_000), ("others_present", 2_000)])
def test_text_fields_are_kept_up_to_their_limits(sessions, valid, field, limit):
    assert record(sessions, {**valid, field: "w" * limit})[field] == "w" * limit


def test_blank_optional_text_is_stored_as_nothing(sessions, valid):
    result = record(sessions, {**valid, "location": "  ", "childs_words": "", "others_present": "\n"})
    assert (result["location"], result["childs_words"], result["others_present"]) == (None, None, None)


# --- the DSL informed in person ---------------------------------------------------------------

def test_dsl_informed_verbally_needs_who(sessions, valid):
    errors = refused(sessions, {**valid, "dsl_informed_verbally": True})
    assert errors == [{"field": "dsl_informed_user_id", "message": "Choose the member of the DSL team you told."}]
    result = record(sessions, {**valid, "dsl_informed_verbally": True, "dsl_informed_user_id": 20,
                               "dsl_informed_name": "Dana Shah"})
    assert result["dsl_informed"] == {"verbally": True, "user_id": 20, "name": "Dana Shah"}


def test_who_was_told_is_dropped_when_the_dsl_was_not_told(sessions, valid):
    result = record(sessions, {**valid, "dsl_informed_verbally": False, "dsl_informed_user_id": 20,
                               "dsl_informed_name": "Dana Shah"})
    assert result["dsl_informed"] == {"verbally": False, "user_id": None, "name": None}


# --- linked pupils ----------------------------------------------------------------------------

def test_each_linked_pupil_has_its_own_role_in_the_record_and_the_chronology(sessions, session, valid):
    gill, foster = pupil_id(session, "Gill"), pupil_id(session, "Foster")
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Safeguarding"),
                                                         category_id(session, "Bullying")],
                               "record_type": "disclosure",
                               "linked_pupils": [{"pupil_id": gill, "role": "alleged_perpetrator"},
                                                 {"pupil_id": foster, "role": "witness"}]})
    roles = {link["pupil"]["id"]: link["role"] for link in result["linked_pupils"]}
    assert roles == {gill: "alleged_perpetrator", foster: "witness"}
    jack = next(link for link in result["linked_pupils"] if link["pupil"]["id"] == gill)
    assert jack["pupil"] == {"id": gill, "name": "Jack Gill", "year_group": "Year 2", "form": "Y2B",
                             "initials": "J.G."}
    with sessions() as s:
        lines = {(e.pupil_id, e.role, e.title, e.entry_type, e.incident_id)
                 for e in s.scalars(select(ChronologyEntry))}
        entry = s.scalars(select(ChronologyEntry).where(ChronologyEntry.pupil_id == gill)).one()
    title = "Disclosure — Safeguarding, Bullying"
    assert lines == {(valid["pupil_id"], None, title, "incident", result["id"]),
                     (gill, "alleged_perpetrator", title, "incident", result["id"]),
                     (foster, "witness", title, "incident", result["id"])}
    assert sorted(entry.sensitivities) == ["behaviour", "safeguarding"]
    assert entry.occurred_at == datetime(2026, 1, 5, 9, 30)
    # Linking a perpetrator never tags them a victim anywhere.
    assert "victim" not in {e[1] for e in lines}


def test_chronology_title_never_carries_the_account(sessions, valid):
    record(sessions, valid)
    with sessions() as s:
        entry = s.scalars(select(ChronologyEntry)).one()
    assert entry.title == "Observation — Behaviour"
    assert "belt" not in entry.title


def test_linked_pupil_errors_name_the_row(sessions, session, valid):
    gill = pupil_id(session, "Gill")
    errors = refused(sessions, {**valid, "linked_pupils": [
        {"pupil_id": gill, "role": "victim"},
        {"pupil_id": pupil_id(session, on_roll=False), "role": "witness"},          # left the roll
        {"pupil_id": pupil_id(session, school_id=OTHER_SCHOOL), "role": "witness"},  # another school
        {"pupil_id": 999_999, "role": "witness"},                                  # unknown
    ]})
    assert errors == [
        {"field": "linked_pupils.1",
         "message": "That pupil has left the roll; ask the DSL to record against their archived file."},
        {"field": "linked_pupils.2",
         "message": "That pupil is not on this school's roll. Choose the pupil from the list."},
        {"field": "linked_pupils.3",
         "message": "That pupil is not on this school's roll. Choose the pupil from the list."},
    ]


# --- the body map -----------------------------------------------------------------------------

MARK = {"side": "front", "x": 0.5, "y": 0.35, "mark_type": "bruise", "colour": "purple-yellow",
        "shape": "oval", "size": "3 cm", "description": "Finger-tip pattern"}


def test_marks_are_kept_with_their_details(sessions, valid):
    back = {"side": "back", "x": 0.4, "y": 0.7, "mark_type": "burn"}
    result = record(sessions, {**valid, "body_map": [MARK, back]})
    first, second = result["body_map"]
    assert {k: first[k] for k in MARK} == MARK and first["id"] and first["mark_type_label"] == "Bruise"
    assert second["side"] == "back" and second["colour"] is None and second["description"] is None
    assert rows(sessions)["BodyMapMark"] == 2


def test_sixty_marks_are_kept(sessions, valid):
    assert len(record(sessions, {**valid, "body_map": [MARK] * 60})["body_map"]) == 60


# --- warnings about full names ------------------------------------------------------------------

@pytest.mark.parametrize("mention", ["Jack Gill", "JACK   GILL", "gill, jack", "Gill,Jack"])
def test_a_linked_pupils_full_name_in_the_text_is_a_warning_not_an_error(sessions, session, valid, mention):
    gill = pupil_id(session, "Gill")
    result = record(sessions, {**valid, "account": f"Seen at the gate with {mention} at 3pm.",
                               "linked_pupils": [{"pupil_id": gill, "role": "witness"}]})
    assert result["id"]
    assert result["warnings"] == [{"field": "account", "pupil_id": gill,
                                   "message": "This names a linked pupil in full; refer to linked pupils by "
                                              "their initials (e.g. J.G.)"}]


def test_preferred_names_and_every_text_field_are_checked(sessions, session, valid):
    foster = pupil_id(session, "Foster")  # Sami Foster, known as Sam
    result = record(sessions, {**valid, "account": "Sam Foster pushed him.", "childs_words": "sami foster did it",
                               "others_present": "Foster, Sam",
                               "linked_pupils": [{"pupil_id": foster, "role": "alleged_perpetrator"}]})
    assert [w["field"] for w in result["warnings"]] == ["account", "childs_words", "others_present"]


@pytest.mark.parametrize("text_", ["J.G. was there.", "Jack was there.", "Mr Gill phoned.", "Jackie Gillespie came",
                                   "Jack, Gill and others"])
def test_initials_or_part_of_a_name_are_not_warned_about(sessions, session, valid, text_):
    gill = pupil_id(session, "Gill")
    result = record(sessions, {**valid, "account": text_, "linked_pupils": [{"pupil_id": gill, "role": "witness"}]})
    assert result["warnings"] == []


def test_the_main_pupils_name_is_not_warned_about(sessions, valid):
    assert record(sessions, {**valid, "account": "Quinn Quigley said it hurt."})["warnings"] == []


def test_check_text_warns_before_saving_without_writing(sessions, session):
    o_brien = pupil_id(session, "O'Brien")
    before = rows(sessions)
    with sessions() as s:
        result = domain.check_incident_text(s, actor(), **through_contract(incidents_contract.check_incident_text, texts={
            "account": "Chloe O'Brien saw it", "childs_words": None, "others_present": "C.O.",
            "linked_pupils": [{"pupil_id": o_brien}, {"pupil_id": pupil_id(s, school_id=OTHER_SCHOOL)}]}))
    assert result == {"warnings": [{"field": "account", "pupil_id": o_brien,
                                    "message": "This names a linked pupil in full; refer to linked pupils by "
                                               "their initials (e.g. C.O.)"}]}
    assert rows(sessions) == before


def test_check_text_ignores_pupils_of_another_school(sessions, session):
    other = pupil_id(session, school_id=OTHER_SCHOOL)
    with sessions() as s:
        assert domain.check_incident_text(s, actor(), **through_contract(
            incidents_contract.check_incident_text,
            texts={"account": "Otto Elsewhere", "linked_pupils": [{"pupil_id": other}]})) == {"warnings": []}


# --- the event, and nothing half-saved --------------------------------------------------------

def test_event_carries_linked_pupil_ids_only(sessions, session, valid):
    gill, foster = pupil_id(session, "Gill"), pupil_id(session, "Foster")
    record(sessions, {**valid, "childs_words": "it was at the park",
                      "linked_pupils": [{"pupil_id": foster, "role": "victim"}, {"pupil_id": gill, "role": "sibling"}],
                      "body_map": [MARK]})
    with sessions() as s:
        body = s.scalars(select(OutboxEvent.body)).one()
    event = json.loads(body)
    assert event["linked_pupil_ids"] == [foster, gill]
    for secret in ("Gill", "Foster", "park", "Finger-tip", "victim", "sibling"):
        assert secret not in body


def test_one_bad_mark_saves_nothing_at_all(sessions, session, valid):
    record(sessions, valid)
    before = rows(sessions)
    assert before["ChronologyEntry"] == 1 and before["OutboxEvent"] == 1
    errors = refused(sessions, {**valid, "linked_pupils": [{"pupil_id": pupil_id(session, "Gill"), "role": "victim"}],
                                "body_map": [MARK, {**MARK, "x": 0.01}], "record_type": "disclosure",
                                "childs_words": "words"})
    assert fields(errors) == ["body_map.1"]
    assert rows(sessions) == before


def test_a_failure_after_validation_rolls_everything_back(sessions, session, valid, monkeypatch):
    """Everything is one transaction: a fault while writing (here, in the outbox) leaves no trace."""
    before = rows(sessions)

    def broken(*args, **kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(domain, "add_to_outbox", broken)
    with pytest.raises(RuntimeError):
        record(sessions, {**valid, "linked_pupils": [{"pupil_id": pupil_id(session, "Gill"), "role": "victim"}],
                          "body_map": [MARK]})
    assert rows(sessions) == before


def test_the_same_submission_twice_is_recorded_once(sessions, session):
    data = {"pupil_id": pupil_id(session, "Green"), "occurred_at": "2026-01-05T09:30:00Z",
            "account": "Said she was scared to go home.", "category_ids": [category_id(session, "Safeguarding")],
            "client_token": "form-7f3a9c2e"}
    before = [count(sessions, m) for m in (Incident, ChronologyEntry, OutboxEvent)]
    with sessions.begin() as s:
        first = domain.record_incident(s, actor(), new_record(data))
    with sessions.begin() as s:
        again = domain.record_incident(s, actor(), new_record(data))
    assert again["id"] == first["id"] and again["replayed"] is True and "replayed" not in first
    after = [count(sessions, m) for m in (Incident, ChronologyEntry, OutboxEvent)]
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1]
    with sessions.begin() as s:  # another member of staff's token is theirs alone
        other = domain.record_incident(s, actor(user_id=OTHER_TEACHER), new_record(data))
    assert other["id"] != first["id"]


