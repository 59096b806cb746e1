"""Actions, decisions and outcomes against real PostgreSQL: who may add each, validation (every error
at once, nothing half-saved), and the chronology lines for the pupil and each linked pupil."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from services.common.contracts.incidents import ActionCompleted
from services.common.db import utcnow
from services.common.errors import Conflict
from services.incidents.follow_up import actions as records
from services.incidents.follow_up import decisions
from services.incidents.record import incidents as domain
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import Action, ChronologyEntry, Decision, OutboxEvent, Outcome

from .conftest import (new_record, DSL_USER, OTHER_SCHOOL, OTHER_TEACHER, SCHOOL, SLT_USER, TEACHER, actor, category_id,
                       count, pupil_id)

RECORDER = actor(TEACHER, name="Tom Archer")
OTHER = actor(OTHER_TEACHER, name="Tess Morgan")
TA = actor(12, name="Tariq Bell")
DSL = actor(DSL_USER, roles=("dsl",), second_factor=True, name="Dana Shah")
SLT = actor(SLT_USER, roles=("slt",), second_factor=True, name="Sam Lee")
ELSEWHERE_DSL = actor(99, roles=("dsl",), second_factor=True, school_id=OTHER_SCHOOL)
# Tables that point at incidents or pupils and that conftest's `sessions` does not clear.
FOLLOW_UP_TABLES = ("case_events", "case_incidents", "cases", "actions", "decisions", "outcomes", "amendments",
                    "body_map_marks", "linked_pupils", "chronology")


@pytest.fixture(autouse=True)
def clean_follow_up(engine):
    """Runs before `sessions` (autouse fixtures come first) and after the test, so incidents can be deleted."""
    def clean():
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM tray_items"))
            for table in FOLLOW_UP_TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
    clean()
    yield
    clean()


def record_incident(sessions, session, *, category="Safeguarding", alert_user_ids=(), alert_groups=(),
                    linked=(("Gill", "witness"),), surname="Quigley", who=RECORDER) -> dict:
    data = {"pupil_id": pupil_id(session, surname), "occurred_at": "2026-01-05T09:30:00Z",
            "account": "Said she had no breakfast again.", "category_ids": [category_id(session, category)],
            "alert_user_ids": list(alert_user_ids), "alert_groups": list(alert_groups),
            "linked_pupils": [{"pupil_id": pupil_id(session, s), "role": role} for s, role in linked]}
    with sessions.begin() as s:
        return domain.record_incident(s, who, new_record(data))


@pytest.fixture
def incident(sessions, session) -> dict:
    """A safeguarding incident recorded by the teacher, alerting the TA by name and the DSL team."""
    return record_incident(sessions, session, alert_user_ids=[TA.user_id], alert_groups=["dsl"])


def call(sessions, fn, *args):
    with sessions.begin() as s:
        return fn(s, *args)


def lines(sessions, entry_type) -> list[tuple]:
    with sessions() as s:
        return s.execute(select(ChronologyEntry.pupil_id, ChronologyEntry.role, ChronologyEntry.title,
                                ChronologyEntry.category_ids, ChronologyEntry.sensitivities)
                         .where(ChronologyEntry.entry_type == entry_type)
                         .order_by(ChronologyEntry.id)).all()


def refused(sessions, fn, *args) -> list[dict]:
    """The field errors, and a check that nothing at all was written."""
    tables = (Action, Decision, Outcome, ChronologyEntry)
    before = [count(sessions, t) for t in tables]
    with pytest.raises(ValidationFailed) as caught:
        call(sessions, fn, *args)
    assert [count(sessions, t) for t in tables] == before
    return caught.value.errors


def fields(errors) -> list[str]:
    return [e["field"] for e in errors]


def in_days(n: int) -> str:
    return (utcnow().date() + timedelta(days=n)).isoformat()


# --- actions ------------------------------------------------------------------------------------------

def test_dsl_assigns_an_action_and_it_joins_each_pupils_chronology(sessions, session, incident):
    due = in_days(3)
    action = call(sessions, records.add_action, DSL, incident["id"],
                  {"description": "Phone mum about breakfast club.", "assigned_to_user_id": SLT_USER,
                   "assigned_to_name": "Sam Lee", "due_on": due})
    assert action["assigned_to"] == {"id": SLT_USER, "name": "Sam Lee"} and action["due_on"] == due
    assert action["created_by"]["name"] == "Dana Shah" and action["completed"] is False
    safeguarding = category_id(session, "Safeguarding")
    assert lines(sessions, "action") == [
        (pupil_id(session, "Quigley"), None, f"Action assigned to Sam Lee (due {due})", [safeguarding],
         ["safeguarding"]),
        (pupil_id(session, "Gill"), "witness", f"Action assigned to Sam Lee (due {due})", [safeguarding],
         ["safeguarding"])]


def test_the_assignee_is_told_by_an_event_that_carries_ids_only(sessions, incident):
    import json

    from sqlalchemy import select

    from services.incidents.models import OutboxEvent
    action = call(sessions, records.add_action, DSL, incident["id"],
                  {"description": "Phone mum about breakfast club.", "assigned_to_user_id": SLT_USER,
                   "assigned_to_name": "Sam Lee", "due_on": in_days(2)})
    call(sessions, records.add_action, DSL, incident["id"], {"description": "Unassigned note."})
    with sessions() as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "action_assigned")).all()
    [event] = events  # only the assigned action
    body = json.loads(event.body)
    assert (body["action_id"], body["assigned_to"], body["due_on"]) == (action["id"], SLT_USER, in_days(2))
    assert "breakfast" not in event.body and "Sam Lee" not in event.body


def test_the_title_never_carries_what_the_action_is(sessions, incident):
    call(sessions, records.add_action, RECORDER, incident["id"], {"description": "Spoke to J about the bruise."})
    assert [t for _, _, t, _, _ in lines(sessions, "action")] == ["Action recorded by Tom Archer"] * 2


@pytest.mark.parametrize("who", [RECORDER, TA, DSL], ids=["recorder", "alerted-by-name", "dsl"])
def test_recorder_alerted_staff_and_dsl_may_add_actions(sessions, incident, who):
    action = call(sessions, records.add_action, who, incident["id"], {"description": "Checked in at lunch."})
    assert action["created_by"]["id"] == who.user_id


def test_staff_alerted_as_a_group_may_add_actions(sessions, session):
    behaviour = record_incident(sessions, session, category="Behaviour", alert_groups=["slt"])
    assert call(sessions, records.add_action, SLT, behaviour["id"], {"description": "Met the parents."})
    # The DSL team may always; SLT may not on an incident that alerted only the DSL team.
    dsl_only = record_incident(sessions, session, alert_groups=["dsl"])
    with pytest.raises(Forbidden):
        call(sessions, records.add_action, SLT, dsl_only["id"], {"description": "Met the parents."})


@pytest.mark.parametrize("who", [OTHER, SLT, actor(SLT_USER, roles=("slt",))],
                         ids=["other-teacher", "slt-not-alerted", "slt-without-second-factor"])
def test_others_may_not_add_actions(sessions, incident, who):
    with pytest.raises(Forbidden):
        call(sessions, records.add_action, who, incident["id"], {"description": "Checked in at lunch."})
    assert count(sessions, Action) == 0


def test_another_schools_incident_is_not_found(sessions, incident):
    with pytest.raises(NotFound):
        call(sessions, records.add_action, ELSEWHERE_DSL, incident["id"], {"description": "x"})
    with pytest.raises(NotFound):
        call(sessions, records.add_action, DSL, 999_999, {"description": "x"})


def test_every_action_error_is_reported_at_once_and_nothing_is_saved(sessions, incident):
    future = (utcnow() + timedelta(days=1)).isoformat() + "Z"
    errors = refused(sessions, records.add_action, DSL, incident["id"],
                     {"description": "  ", "taken_at": future, "assigned_to_user_id": 5, "due_on": "next week"})
    assert fields(errors) == ["description", "taken_at", "assigned_to_user_id", "due_on"]
    assert "future" in errors[1]["message"]


def test_an_action_may_be_backdated_but_not_due_before_it_was_taken(sessions, incident):
    errors = refused(sessions, records.add_action, DSL, incident["id"],
                     {"description": "Called social care.", "taken_at": "2026-01-06T10:00:00Z",
                      "due_on": "2026-01-05"})
    assert fields(errors) == ["due_on"]
    action = call(sessions, records.add_action, DSL, incident["id"],
                  {"description": "Called social care.", "taken_at": "2026-01-06T10:00:00+01:00"})
    assert action["taken_at"] == "2026-01-06T09:00:00Z"  # kept in UTC


def test_completing_an_action_once_by_the_assignee(sessions, incident):
    action = call(sessions, records.add_action, DSL, incident["id"],
                  {"description": "Speak to the family.", "assigned_to_user_id": TA.user_id,
                   "assigned_to_name": "Tariq Bell"})
    with pytest.raises(Forbidden):
        call(sessions, records.complete_action, OTHER, action["id"], {"note": "done"})
    done = call(sessions, records.complete_action, TA, action["id"], {"note": "Spoke to dad at pick-up."})
    assert done["completed"] and done["completed_by"] == {"id": TA.user_id, "name": "Tariq Bell"}
    assert done["completion_note"] == "Spoke to dad at pick-up."
    with pytest.raises(Conflict):
        call(sessions, records.complete_action, DSL, action["id"], {})
    titles = [t for _, _, t, _, _ in lines(sessions, "action")]
    assert titles.count("Action completed by Tariq Bell") == 2  # the pupil and the linked pupil


def test_completing_an_action_is_announced_by_ids_so_its_reminders_stop(sessions, incident):
    action = call(sessions, records.add_action, DSL, incident["id"],
                  {"description": "Speak to the family.", "assigned_to_user_id": TA.user_id,
                   "assigned_to_name": "Tariq Bell", "due_on": in_days(3)})
    call(sessions, records.complete_action, TA, action["id"], {"note": "Spoke to dad at pick-up."})
    with sessions() as s:
        [body] = s.scalars(select(OutboxEvent.body).where(OutboxEvent.event_type == "action_completed")).all()
    event = json.loads(body)
    assert {k: event[k] for k in ("action_id", "incident_id", "completed_by", "school_id")} == {
        "action_id": action["id"], "incident_id": incident["id"], "completed_by": TA.user_id, "school_id": SCHOOL}
    ActionCompleted.model_validate(event)
    assert "family" not in body and "dad" not in body  # ids only, never the action's words


@pytest.mark.parametrize("who", [RECORDER, DSL], ids=["creator", "dsl"])
def test_the_creator_and_the_dsl_may_complete_an_action(sessions, incident, who):
    action = call(sessions, records.add_action, RECORDER, incident["id"],
                  {"description": "Tell the DSL.", "assigned_to_user_id": TA.user_id, "assigned_to_name": "Tariq Bell"})
    assert call(sessions, records.complete_action, who, action["id"], {})["completed"]


def test_my_actions_lists_my_open_actions_soonest_first(sessions, incident):
    def add(description, assignee=TA, due=None):
        return call(sessions, records.add_action, DSL, incident["id"],
                    {"description": description, "assigned_to_user_id": assignee.user_id,
                     "assigned_to_name": assignee.name, "due_on": due})
    later, sooner, undated = add("later", due=in_days(5)), add("sooner", due=in_days(1)), add("undated")
    add("someone else's", assignee=OTHER)
    done = add("done", due=in_days(2))
    call(sessions, records.complete_action, TA, done["id"], {})
    with sessions() as s:
        mine = records.list_my_actions(s, TA)
        everything = records.list_my_actions(s, TA, open_only=False)
        with pytest.raises(Forbidden):
            records.list_school_actions(s, TA)
        school = records.list_school_actions(s, DSL)
    assert [a["id"] for a in mine] == [sooner["id"], later["id"], undated["id"]]
    assert done["id"] in [a["id"] for a in everything]
    assert len(school) == 4


def test_an_incidents_actions_are_for_those_who_may_read_it_or_act_on_it(sessions, incident):
    call(sessions, records.add_action, DSL, incident["id"], {"description": "Phone mum."})
    call(sessions, records.add_action, TA, incident["id"], {"description": "Sat with her at lunch."})
    with sessions() as s:
        # Alerted by name: their own action only, never the DSL team's (the leak this replaced).
        assert [a["description"] for a in records.list_incident_actions(s, TA, incident["id"])] == [
            "Sat with her at lunch."]
        assert records.list_incident_actions(s, RECORDER, incident["id"]) == []
        assert len(records.list_incident_actions(s, DSL, incident["id"])) == 2
        with pytest.raises(Forbidden):
            records.list_incident_actions(s, OTHER, incident["id"])
        with pytest.raises(Forbidden):
            records.list_incident_actions(s, SLT, incident["id"])


# --- decisions ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", [RECORDER, SLT, actor(DSL_USER, roles=("dsl",))],
                         ids=["teacher", "slt", "dsl-without-second-factor"])
def test_only_the_dsl_team_records_decisions(sessions, incident, who):
    with pytest.raises(Forbidden):
        call(sessions, decisions.record_decision, who, incident["id"],
             {"decision_type": "early_help", "reason": "Family asked for support."})
    assert count(sessions, Decision) == 0


def test_a_decision_not_to_refer_without_a_reason_is_refused_on_the_reason(sessions, incident):
    for reason in (None, "", "   "):
        errors = refused(sessions, decisions.record_decision, DSL, incident["id"],
                         {"decision_type": "no_referral", "reason": reason})
        assert fields(errors) == ["reason"]
        assert errors[0]["message"].startswith("Record why you decided not to refer")


def test_a_decision_not_to_refer_with_its_reason(sessions, session, incident):
    decision = call(sessions, decisions.record_decision, DSL, incident["id"],
                    {"decision_type": "no_referral", "reason": "Threshold not met; discussed with MASH adviser.",
                     "decided_at": "2026-01-06T12:00:00Z"})
    assert decision["decision_type_label"] == "Decision not to refer"
    assert decision["decided_by"]["name"] == "Dana Shah" and decision["decided_at"] == "2026-01-06T12:00:00Z"
    assert [(p, role, t) for p, role, t, _, _ in lines(sessions, "decision")] == [
        (pupil_id(session, "Quigley"), None, "Decision: not to refer"),
        (pupil_id(session, "Gill"), "witness", "Decision: not to refer")]


@pytest.mark.parametrize("decision_type, agency, title", [
    ("refer_childrens_social_care", None, "Decision: referral to children's social care"),
    ("early_help", None, "Decision: early help"),
    ("police", None, "Decision: referral to the police"),
    ("camhs", None, "Decision: referral to CAMHS"),
    ("lado", None, "Decision: referral to the LADO"),
    ("other_agency", "Young Carers Service", "Decision: referral to Young Carers Service")])
def test_each_referral_has_a_short_factual_title(sessions, incident, decision_type, agency, title):
    call(sessions, decisions.record_decision, DSL, incident["id"],
         {"decision_type": decision_type, "agency": agency, "reason": "Meets threshold.", "reference": "REF-1"})
    assert {t for _, _, t, _, _ in lines(sessions, "decision")} == {title}


def test_every_decision_error_is_reported_at_once(sessions, incident):
    future = (utcnow() + timedelta(hours=2)).isoformat()
    errors = refused(sessions, decisions.record_decision, DSL, incident["id"],
                     {"decision_type": "other_agency", "reason": "", "decided_at": future})
    assert fields(errors) == ["reason", "agency", "decided_at"]
    errors = refused(sessions, decisions.record_decision, DSL, incident["id"], {"decision_type": None})
    assert fields(errors) == ["decision_type", "reason"]


def test_decisions_are_read_by_the_dsl_and_by_slt_outside_safeguarding(sessions, session, incident):
    behaviour = record_incident(sessions, session, category="Behaviour", alert_groups=["slt"])
    for i in (incident, behaviour):
        call(sessions, decisions.record_decision, DSL, i["id"], {"decision_type": "early_help", "reason": "Support."})
    with sessions() as s:
        assert len(decisions.list_decisions(s, DSL, incident["id"])) == 1
        assert len(decisions.list_decisions(s, SLT, behaviour["id"])) == 1
        for who, incident_id in ((SLT, incident["id"]), (RECORDER, incident["id"])):
            with pytest.raises(Forbidden):
                decisions.list_decisions(s, who, incident_id)


# --- outcomes ---------------------------------------------------------------------------------------------

def test_no_further_action_record_is_sufficient(sessions, incident):
    outcome = call(sessions, decisions.record_outcome, DSL, incident["id"], {"outcome_type": "no_further_action"})
    assert outcome["outcome_type_label"] == "No further action — record is sufficient"
    assert {t for _, _, t, _, _ in lines(sessions, "outcome")} == {
        "Outcome: no further action — record is sufficient"}
    with sessions() as s:
        assert [o["id"] for o in decisions.list_outcomes(s, DSL, incident["id"])] == [outcome["id"]]


def test_outcomes_are_for_the_dsl_team_and_checked(sessions, incident):
    with pytest.raises(Forbidden):
        call(sessions, decisions.record_outcome, RECORDER, incident["id"], {"outcome_type": "monitoring"})
    errors = refused(sessions, decisions.record_outcome, DSL, incident["id"], {"outcome_type": None})
    assert fields(errors) == ["outcome_type"]
    errors = refused(sessions, decisions.record_outcome, DSL, incident["id"], {"outcome_type": "other", "note": " "})
    assert fields(errors) == ["note"]
