"""Who sees what, against real PostgreSQL: a regression test for each leak the access issue found, and
the record-level rules that came with it (category readers, step-up, the shared view, restricted
records, self-exclusion, cross-school ids, administrators and governors)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select, text, update

from services.common.actor import Grant
from services.common.errors import StepUpRequired
from services.incidents import consumers, policy
from services.incidents.chronology import entries as chronology
from services.incidents.chronology import front_sheet as frontsheet
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.follow_up import actions, cases, decisions
from services.incidents.models import Category, Incident, OutboxEvent, Pupil, School
from services.incidents.record import access, amendments, categories
from services.incidents.record import incidents as domain
from services.incidents.roll import pupils, search

from .conftest import DSL_USER, OTHER_SCHOOL, SLT_USER, TEACHER, actor, category_id, new_record, pupil_id
from .test_records import DSL, RECORDER, SLT, TA, call, clean_follow_up  # noqa: F401

DEPUTY = actor(21, roles=("dsl",), second_factor=True, name="Dev Deputy")
DSL_LONG_AGO = actor(DSL_USER, roles=("dsl",), second_factor=True, stepped_up=False, name="Dana Shah")
SLT_LONG_AGO = actor(SLT_USER, roles=("slt",), second_factor=True, stepped_up=False)
ADMIN = actor(50, roles=("admin",), second_factor=True)
GOVERNOR = actor(51, roles=("governor",), second_factor=True)
ELSEWHERE_DSL = actor(DSL_USER, roles=("dsl",), second_factor=True, school_id=OTHER_SCHOOL)


def reader_of(session, *names, year_groups=None, user_id=60):
    """A category reader (e.g. the SENCO): their group's grant covers these categories."""
    grant = Grant(categories=tuple(category_id(session, n) for n in names),
                  year_groups=None if year_groups is None else tuple(year_groups))
    return actor(user_id, roles=("staff",), second_factor=True, grants=(grant,))


def record(sessions, session, *categories_, who=RECORDER, surname="Quigley", **extra) -> dict:
    data = {"pupil_id": pupil_id(session, surname), "occurred_at": "2026-01-05T09:30:00Z",
            "account": "Said she had no breakfast again.",
            "category_ids": [category_id(session, c) for c in categories_ or ("Safeguarding",)], **extra}
    with sessions.begin() as s:
        return domain.record_incident(s, who, new_record(data))


def get(sessions, who, incident_id) -> dict:
    with sessions() as s:
        return domain.get_incident(s, who, incident_id)


def lines(sessions, who, pupil) -> dict:
    with sessions() as s:
        result = chronology.read_chronology(s, who, pupil)
        assert json.loads(chronology.read_chronology_json(s, who, pupil)) == result  # both paths agree
        return result


def line_incidents(sessions, who, pupil) -> list[int]:
    return [e["incident_id"] for e in lines(sessions, who, pupil)["entries"] if e["entry_type"] == "incident"]


def counts(sessions, who, pupil) -> dict:
    with sessions() as s:
        return frontsheet.front_sheet(s, who, pupil)["counts"]


# --- the leaks the issue listed --------------------------------------------------------------------

def test_alerted_staff_never_read_the_dsl_teams_actions(sessions, session):
    incident = record(sessions, session, alert_user_ids=[TA.user_id], alert_groups=["dsl"])
    call(sessions, actions.add_action, DSL, incident["id"], {"description": "Strategy meeting held, police involved."})
    call(sessions, actions.add_action, TA, incident["id"], {"description": "Sat with her at lunch."})
    with sessions() as s:
        assert [a["description"] for a in actions.list_incident_actions(s, TA, incident["id"])] == [
            "Sat with her at lunch."]
        assert len(actions.list_incident_actions(s, DSL, incident["id"])) == 2


def test_slt_alerted_as_a_group_never_read_the_dsl_teams_actions_or_decisions(sessions, session):
    incident = record(sessions, session, "Bullying", "Online safety", alert_groups=["slt"])
    call(sessions, actions.add_action, DSL, incident["id"], {"description": "Strategy meeting held."})
    with sessions() as s:
        assert actions.list_incident_actions(s, SLT, incident["id"]) == []
        with pytest.raises(Forbidden):
            decisions.list_decisions(s, SLT, incident["id"])
    seen = get(sessions, SLT, incident["id"])
    assert seen["shared"] is True and seen["may"]["see_follow_up"] is False


def test_an_action_assigned_to_someone_shows_them_the_record_as_shared_and_only_that_action(sessions, session):
    incident = record(sessions, session)
    call(sessions, actions.add_action, DSL, incident["id"], {"description": "Police involved."})
    call(sessions, actions.add_action, DSL, incident["id"], {"description": "Check on her at break.",
                                                            "assigned_to_user_id": TA.user_id,
                                                            "assigned_to_name": TA.name})
    assert get(sessions, TA, incident["id"])["shared"] is True
    with sessions() as s:
        assert [a["description"] for a in actions.list_incident_actions(s, TA, incident["id"])] == [
            "Check on her at break."]
        assert [a["description"] for a in actions.list_my_actions(s, TA)] == ["Check on her at break."]


def test_slt_see_no_safeguarding_flags_or_household(sessions, session):
    pupil = pupil_id(session, "O'Brien")  # a household in the demo roll
    vaughan = pupil_id(session, "Vaughan")  # on a child protection plan
    with sessions() as s:
        for who in (SLT, reader_of(session, "Medical")):
            details = pupils.get_pupil(s, who, vaughan)
            assert not {"flags", "sen_status", "staff_relative_ids"} & set(details)
            sheet = frontsheet.front_sheet(s, who, pupil)
            assert not {"flags", "household", "agencies", "open_cases"} & set(sheet)
        assert pupils.get_pupil(s, DSL, vaughan)["flags"]["cp_plan"] is True
        assert frontsheet.front_sheet(s, DSL, pupil)["household"]


@pytest.fixture
def behaviour_made_safeguarding(engine):
    """Behaviour made stricter after records were written; put back afterwards (categories are shared)."""
    def set_to(sensitivity):
        with engine.begin() as conn:
            conn.execute(update(Category).where(Category.school_id == 1, Category.name == "Behaviour")
                         .values(sensitivity=sensitivity))
    yield lambda: set_to("safeguarding")
    set_to("behaviour")


def test_a_category_made_safeguarding_hides_its_existing_lines_and_counts_from_slt(sessions, session,
                                                                                   behaviour_made_safeguarding):
    pupil = pupil_id(session, "Quigley")
    incident = record(sessions, session, "Behaviour")
    assert line_incidents(sessions, SLT, pupil) == [incident["id"]]
    assert counts(sessions, SLT, pupil)["incidents"] == 1
    behaviour_made_safeguarding()
    assert line_incidents(sessions, SLT, pupil) == []
    assert counts(sessions, SLT, pupil) == {"incidents": 0, "open_actions": 0, "hidden_needing_step_up": 0}
    # Behaviour alerts SLT by default: the record itself they now read only as shared with them.
    assert get(sessions, SLT, incident["id"])["shared"] is True
    # The DSL team still reads it, now with the safeguarding step-up.
    assert line_incidents(sessions, DSL, pupil) == [incident["id"]]
    assert lines(sessions, DSL_LONG_AGO, pupil)["hidden_needing_step_up"] == 1


def test_a_record_without_a_category_is_closed_to_slt(sessions, session):
    pupil = pupil_id(session, "Quigley")
    with sessions.begin() as s:  # none can be recorded so now; older data or a tray item might be so
        incident = Incident(school_id=1, pupil_id=pupil, occurred_at=datetime(2026, 1, 5), recorded_by=TEACHER,
                            recorded_by_name="Tom Archer", account="No category.")
        s.add(incident)
        s.flush()
        chronology.add_entry(s, school_id=1, pupil_id=pupil, entry_type="incident", ref_id=incident.id,
                             incident_id=incident.id, occurred_at=datetime(2026, 1, 5), title="Incident")
        incident_id = incident.id
    with pytest.raises(Forbidden):
        get(sessions, SLT, incident_id)
    assert get(sessions, DSL, incident_id)["id"] == incident_id
    assert get(sessions, RECORDER, incident_id)["id"] == incident_id
    assert line_incidents(sessions, SLT, pupil) == [] and counts(sessions, SLT, pupil)["incidents"] == 0
    assert line_incidents(sessions, DSL, pupil) == [incident_id]
    # Nor does it wait for a step-up: it is in no safeguarding category.
    assert line_incidents(sessions, DSL_LONG_AGO, pupil) == [incident_id]


# --- category readers --------------------------------------------------------------------------------

def test_a_category_reader_reads_their_categories_for_their_year_groups_only(sessions, session):
    pupil = pupil_id(session, "Quigley")
    year = session.get(Pupil, pupil).year_group
    medical = record(sessions, session, "Medical")
    mixed = record(sessions, session, "Medical", "Behaviour")
    senco_all_years = reader_of(session, "Medical")
    in_year = reader_of(session, "Medical", year_groups=[year])
    other_year = reader_of(session, "Medical", year_groups=["Year 99"])
    assert get(sessions, senco_all_years, medical["id"])["shared"] is False
    assert get(sessions, in_year, medical["id"])["id"] == medical["id"]
    with pytest.raises(Forbidden):
        get(sessions, other_year, medical["id"])
    with pytest.raises(Forbidden):  # every category must be theirs
        get(sessions, in_year, mixed["id"])
    assert line_incidents(sessions, in_year, pupil) == [medical["id"]]
    assert counts(sessions, in_year, pupil)["incidents"] == 1
    assert line_incidents(sessions, other_year, pupil) == []
    # SLT do not read medical records at all.
    with pytest.raises(Forbidden):
        get(sessions, SLT, medical["id"])
    # A grant without a second factor reads nothing.
    no_factor = actor(60, grants=(Grant(categories=(category_id(session, "Medical"),)),))
    with pytest.raises(Forbidden):
        get(sessions, no_factor, medical["id"])
    # They record in their categories: an action on a record they read, none on one outside their years.
    call(sessions, actions.add_action, in_year, medical["id"], {"description": "Care plan reviewed."})
    with pytest.raises(Forbidden):
        call(sessions, actions.add_action, other_year, medical["id"], {"description": "Not mine."})


# --- step-up -----------------------------------------------------------------------------------------

def test_a_safeguarding_record_needs_a_recent_second_factor(sessions, session):
    pupil = pupil_id(session, "Quigley")
    safeguarding = record(sessions, session, "Safeguarding", alert_user_ids=[TA.user_id])
    behaviour = record(sessions, session, "Behaviour")
    with pytest.raises(StepUpRequired):
        get(sessions, DSL_LONG_AGO, safeguarding["id"])
    with sessions() as s:
        for read in (lambda: domain.body_map_svg(s, DSL_LONG_AGO, safeguarding["id"]),
                     lambda: domain.check_incident_access(s, DSL_LONG_AGO, safeguarding["id"], "read"),
                     lambda: actions.list_incident_actions(s, DSL_LONG_AGO, safeguarding["id"]),
                     lambda: decisions.list_decisions(s, DSL_LONG_AGO, safeguarding["id"])):
            with pytest.raises(StepUpRequired):
                read()
    assert get(sessions, DSL_LONG_AGO, behaviour["id"])["id"] == behaviour["id"]
    assert get(sessions, SLT_LONG_AGO, behaviour["id"])["id"] == behaviour["id"]
    assert get(sessions, DSL, safeguarding["id"])["id"] == safeguarding["id"]
    # Its recorder, and alerted staff who hold no second factor, read it without one.
    assert get(sessions, RECORDER, safeguarding["id"])["shared"] is False
    assert get(sessions, TA, safeguarding["id"])["shared"] is True
    # Lists never fail: the lines and counts wait, and say how many.
    later = lines(sessions, DSL_LONG_AGO, pupil)
    assert [e["incident_id"] for e in later["entries"]] == [behaviour["id"]]
    assert later["hidden_needing_step_up"] == 1
    assert counts(sessions, DSL_LONG_AGO, pupil) == {"incidents": 1, "open_actions": 0, "hidden_needing_step_up": 1}
    assert lines(sessions, DSL, pupil)["hidden_needing_step_up"] == 0
    assert len(line_incidents(sessions, DSL, pupil)) == 2


def test_a_case_needs_a_recent_second_factor(sessions, session):
    incident = record(sessions, session)
    case = call(sessions, cases.open_case, DSL, {"pupil_id": incident["pupil_id"], "title": "Home concerns",
                                                "owner_user_id": DSL_USER, "owner_name": "Dana Shah",
                                                "incident_ids": [incident["id"]]})
    with sessions() as s:
        with pytest.raises(StepUpRequired):
            cases.get_case(s, DSL_LONG_AGO, case["id"])
        assert cases.get_case(s, DSL, case["id"])["id"] == case["id"]


# --- the shared view ------------------------------------------------------------------------------------

def test_alerted_staff_read_the_record_as_shared_with_them(sessions, session):
    incident = record(sessions, session, alert_user_ids=[TA.user_id], others_present="Mr X and J.S.",
                      linked_pupils=[{"pupil_id": pupil_id(session, "Gill"), "role": "witness"}],
                      body_map=[{"side": "front", "x": 0.5, "y": 0.3, "mark_type": "bruise"}])
    call(sessions, amendments.amend_incident, RECORDER, incident["id"],
         {"field": "location", "new_value": "Playground", "reason": "Place left out."})
    shared = get(sessions, TA, incident["id"])
    assert shared["shared"] is True and shared["may"]["shared"] is True
    assert shared["account"] == "Said she had no breakfast again." and shared["location"] == "Playground"
    assert shared["pupil"]["id"] == incident["pupil_id"] and shared["categories"][0]["name"] == "Safeguarding"
    assert shared["recorded_by"]["id"] == TEACHER
    assert shared["linked_pupils"] == [] and shared["body_map"] == [] and shared["amendments"] == []
    assert "others_present" not in shared and "alert_user_ids" not in shared
    assert shared["may"]["add_action"] is True and shared["may"]["amend"] is False
    with sessions() as s:
        for refused in (lambda: domain.body_map_svg(s, TA, incident["id"]),
                        lambda: domain.check_incident_access(s, TA, incident["id"], "read"),
                        lambda: domain.check_incident_access(s, TA, incident["id"], "attach"),
                        lambda: decisions.list_decisions(s, TA, incident["id"])):
            with pytest.raises(Forbidden):
                refused()
    with pytest.raises(Forbidden):
        call(sessions, amendments.amend_incident, TA, incident["id"],
             {"field": "location", "new_value": "Hall", "reason": "Trying to amend."})


# --- restricted records ---------------------------------------------------------------------------------

def test_a_restricted_record_is_the_dsl_teams_alone(sessions, session):
    pupil = pupil_id(session, "Quigley")
    incident = record(sessions, session, "Behaviour", alert_user_ids=[TA.user_id])
    call(sessions, actions.add_action, RECORDER, incident["id"], {"description": "Told the head of year."})
    with pytest.raises(ValidationFailed) as missing:
        call(sessions, access.restrict_incident, DSL, incident["id"], True, " ")
    assert [e["field"] for e in missing.value.errors] == ["reason"]
    for who in (RECORDER, SLT, TA):
        with pytest.raises(Forbidden):
            call(sessions, access.restrict_incident, who, incident["id"], True, "Allegation about staff.")
    answer = call(sessions, access.restrict_incident, DSL, incident["id"], True, "Allegation about staff.")
    assert answer["restricted"] is True and answer["restriction"]["by"] == "Dana Shah"

    for who in (RECORDER, SLT, TA):
        with pytest.raises(Forbidden):
            get(sessions, who, incident["id"])
    with sessions() as s:
        with pytest.raises(Forbidden):
            actions.list_incident_actions(s, RECORDER, incident["id"])
        assert actions.list_my_actions(s, RECORDER) == []
        with pytest.raises(Forbidden):
            domain.check_incident_access(s, RECORDER, incident["id"], "attach")
    with pytest.raises(Forbidden):
        call(sessions, actions.add_action, TA, incident["id"], {"description": "More."})
    assert line_incidents(sessions, SLT, pupil) == [] and counts(sessions, SLT, pupil)["incidents"] == 0
    seen = get(sessions, DSL, incident["id"])
    assert seen["restricted"] is True and seen["restriction"]["reason"] == "Allegation about staff."
    assert seen["may"]["restrict"] is True
    assert line_incidents(sessions, DSL, pupil) == [incident["id"]]

    call(sessions, access.restrict_incident, DSL, incident["id"], False, None)
    assert get(sessions, RECORDER, incident["id"])["restricted"] is False
    assert line_incidents(sessions, SLT, pupil) == [incident["id"]]


# --- self-exclusion -------------------------------------------------------------------------------------

def test_a_record_about_a_dsl_does_not_exist_for_them(sessions, session):
    pupil = pupil_id(session, "Quigley")
    incident = record(sessions, session, "Safeguarding", alert_groups=["dsl"], about_staff_ids=[DSL_USER])
    call(sessions, actions.add_action, DEPUTY, incident["id"], {"description": "LADO called."})
    with sessions() as s:
        event = s.scalar(select(OutboxEvent.body).where(OutboxEvent.event_type == "incident_recorded"))
    assert json.loads(event)["excluded_user_ids"] == [DSL_USER]

    with pytest.raises(NotFound) as hidden:
        get(sessions, DSL, incident["id"])
    with pytest.raises(NotFound) as never_used:
        get(sessions, DSL, 999_999)
    assert hidden.value.message == never_used.value.message  # the same answer as for an id never used
    with sessions() as s:
        for refused in (lambda: actions.list_incident_actions(s, DSL, incident["id"]),
                        lambda: domain.check_incident_access(s, DSL, incident["id"], "attach"),
                        lambda: decisions.list_decisions(s, DSL, incident["id"]),
                        lambda: access.restrict_incident(s, DSL, incident["id"], False, None),
                        lambda: access.set_excluded_staff(s, DSL, incident["id"], [])):
            with pytest.raises(NotFound):
                refused()
        assert actions.list_school_actions(s, DSL) == []
    assert line_incidents(sessions, DSL, pupil) == [] and counts(sessions, DSL, pupil)["incidents"] == 0
    # Another DSL handles it, and sees whom it is about.
    seen = get(sessions, DEPUTY, incident["id"])
    assert seen["excluded_staff_ids"] == [DSL_USER]
    with sessions() as s:
        assert len(actions.list_school_actions(s, DEPUTY)) == 1
    assert line_incidents(sessions, DEPUTY, pupil) == [incident["id"]]
    # A DSL who was named by mistake is put back by another.
    assert call(sessions, access.set_excluded_staff, DEPUTY, incident["id"], [])["excluded_staff_ids"] == []
    assert get(sessions, DSL, incident["id"])["id"] == incident["id"]
    with pytest.raises(Forbidden):
        call(sessions, access.set_excluded_staff, SLT, incident["id"], [DSL_USER])


def test_an_action_is_never_assigned_to_someone_the_record_names(sessions, session):
    incident = record(sessions, session, about_staff_ids=[TA.user_id])
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, actions.add_action, DSL, incident["id"], {"description": "Ask him.",
                                                                "assigned_to_user_id": TA.user_id,
                                                                "assigned_to_name": TA.name})
    assert [e["field"] for e in caught.value.errors] == ["assigned_to_user_id"]


def test_a_pupils_file_is_hidden_from_a_member_of_staff_who_is_their_parent(sessions, session):
    pupil = pupil_id(session, "Quigley")
    incident = record(sessions, session, "Behaviour")
    linked = record(sessions, session, "Behaviour", surname="Gill",
                    linked_pupils=[{"pupil_id": pupil, "role": "witness"}])
    case = call(sessions, cases.open_case, DEPUTY, {"pupil_id": pupil, "title": "Home concerns",
                                                   "owner_user_id": 21, "owner_name": "Dev Deputy",
                                                   "incident_ids": [incident["id"]]})
    assert call(sessions, pupils.set_staff_relatives, DEPUTY, pupil, [DSL_USER, SLT_USER]) == {
        "pupil_id": pupil, "staff_relative_ids": [DSL_USER, SLT_USER]}
    with pytest.raises(Forbidden):
        call(sessions, pupils.set_staff_relatives, SLT, pupil, [])
    for who in (DSL, SLT):
        with sessions() as s:
            with pytest.raises(NotFound):
                pupils.get_pupil(s, who, pupil)
            with pytest.raises(NotFound):
                chronology.read_chronology(s, who, pupil)
            with pytest.raises(NotFound):
                frontsheet.front_sheet(s, who, pupil)
            assert pupil not in [p["id"] for p in search.search_pupils(s, who, "Quigley", 20)]
        for incident_id in (incident["id"], linked["id"]):  # about them, or linking them
            with pytest.raises(NotFound):
                get(sessions, who, incident_id)
    with sessions() as s:
        assert case["id"] not in [c["id"] for c in cases.list_cases(s, DSL)]
        with pytest.raises(NotFound):
            cases.get_case(s, DSL, case["id"])
        assert pupils.get_pupil(s, DEPUTY, pupil)["staff_relative_ids"] == [DSL_USER, SLT_USER]
        assert pupil in [p["id"] for p in search.search_pupils(s, DEPUTY, "Quigley", 20)]
    # A new record about the pupil tells the alerts service to leave their parents out.
    record(sessions, session, "Behaviour", alert_groups=["slt"])
    with sessions() as s:
        payloads = [json.loads(p) for p in s.scalars(select(OutboxEvent.body)
                                                     .where(OutboxEvent.event_type == "incident_recorded")
                                                     .order_by(OutboxEvent.id))]
    assert payloads[-1]["excluded_user_ids"] == [DSL_USER, SLT_USER]


# --- cross-school and id probing --------------------------------------------------------------------

def test_another_schools_records_are_not_found_by_id_whatever_is_tried(sessions, session):
    incident = record(sessions, session, "Behaviour")
    call(sessions, actions.add_action, RECORDER, incident["id"], {"description": "Told the head of year."})
    pupil = incident["pupil_id"]
    with sessions() as s:
        attempts = [
            lambda: domain.get_incident(s, ELSEWHERE_DSL, incident["id"]),
            lambda: domain.body_map_svg(s, ELSEWHERE_DSL, incident["id"]),
            lambda: domain.check_incident_access(s, ELSEWHERE_DSL, incident["id"], "read"),
            lambda: domain.check_incident_access(s, ELSEWHERE_DSL, incident["id"], "attach"),
            lambda: amendments.amend_incident(s, ELSEWHERE_DSL, incident["id"], {
                "field": "location", "new_value": "Hall", "reason": "Probing ids."}),
            lambda: actions.add_action(s, ELSEWHERE_DSL, incident["id"], {"description": "x"}),
            lambda: actions.list_incident_actions(s, ELSEWHERE_DSL, incident["id"]),
            lambda: decisions.list_decisions(s, ELSEWHERE_DSL, incident["id"]),
            lambda: access.restrict_incident(s, ELSEWHERE_DSL, incident["id"], True, "Probing."),
            lambda: pupils.get_pupil(s, ELSEWHERE_DSL, pupil),
            lambda: pupils.set_staff_relatives(s, ELSEWHERE_DSL, pupil, [1]),
            lambda: chronology.read_chronology(s, ELSEWHERE_DSL, pupil),
            lambda: frontsheet.front_sheet(s, ELSEWHERE_DSL, pupil),
        ]
        for attempt in attempts:
            with pytest.raises(NotFound):
                attempt()
        assert actions.list_my_actions(s, actor(TEACHER, school_id=OTHER_SCHOOL)) == []


# --- administrators and governors -------------------------------------------------------------------------

@pytest.mark.parametrize("who", [ADMIN, GOVERNOR], ids=["administrator", "governor"])
def test_an_administrator_or_a_governor_alone_reads_and_records_nothing(sessions, session, who):
    incident = record(sessions, session, "Behaviour", alert_groups=["slt"])
    pupil = incident["pupil_id"]
    with pytest.raises(Forbidden):
        record(sessions, session, "Behaviour", who=who)
    with sessions() as s:
        for refused in (lambda: domain.get_incident(s, who, incident["id"]),
                        lambda: domain.check_incident_text(s, who, {"account": "x"}),
                        lambda: actions.list_incident_actions(s, who, incident["id"]),
                        lambda: actions.add_action(s, who, incident["id"], {"description": "x"}),
                        lambda: pupils.get_pupil(s, who, pupil),
                        lambda: search.search_pupils(s, who, "Quigley", 5),
                        lambda: chronology.read_chronology(s, who, pupil),
                        lambda: frontsheet.front_sheet(s, who, pupil),
                        lambda: cases.list_cases(s, who)):
            with pytest.raises(Forbidden):
                refused()
    assert all(v is False for v in policy.may(who, session.get(Incident, incident["id"])).values())


def test_an_administrator_manages_categories_and_a_governor_does_not(sessions, session):
    name = f"Friendships {uuid.uuid4().hex[:6]}"
    try:
        made = call(sessions, categories.create_category, ADMIN, {"name": name, "sensitivity": "pastoral"})
        changed = call(sessions, categories.update_category, ADMIN, made["id"], {"sensitivity": "behaviour"})
        assert changed["sensitivity"] == "behaviour"
        with sessions() as s:
            assert any(c["id"] == made["id"] for c in categories.list_categories(s, ADMIN, include_inactive=True))
        for who in (GOVERNOR, SLT, RECORDER):
            with pytest.raises(Forbidden):
                call(sessions, categories.create_category, who, {"name": name + "x", "sensitivity": "pastoral"})
    finally:
        with sessions.begin() as s:
            s.execute(text("DELETE FROM categories WHERE name LIKE 'Friendships %'"))


# --- schools from the gateway --------------------------------------------------------------------------

def test_a_school_saved_in_the_gateway_is_kept_here_once(sessions):
    school_id = 900 + uuid.uuid4().int % 1000
    event = {"event_id": str(uuid.uuid4()), "event_type": "school_saved", "occurred_at": "2026-11-30T10:00:00Z",
             "school_id": school_id, "name": "Hillside Primary"}
    try:
        assert call(sessions, consumers.school_saved, event) is True
        assert call(sessions, consumers.school_saved, event) is False  # a redelivery
        renamed = {**event, "event_id": str(uuid.uuid4()), "name": "Hillside Academy"}
        assert call(sessions, consumers.school_saved, renamed) is True
        with sessions() as s:
            assert s.get(School, school_id).name == "Hillside Academy"
        with pytest.raises(consumers.MalformedEvent):
            call(sessions, consumers.school_saved, {**event, "event_id": str(uuid.uuid4()), "name": " "})
    finally:
        with sessions.begin() as s:
            s.execute(text("DELETE FROM schools WHERE id = :i"), {"i": school_id})
