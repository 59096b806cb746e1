"""The alerts service by the clock, with a clock the test controls: escalation of urgent incidents nobody
opens, read receipts, due-date reminders, daily digests; and the follow-up alerts (amendments)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.alerts import domain, queries, schedule
from services.alerts.exceptions import Forbidden, NotFound
from services.alerts.models import Alert, Escalation, Mail, Reminder, WatchedIncident
from services.common.actor import Actor
from services.common.contracts.alerts import PreferencesIn, SchoolAlertSettingsIn

from .conftest import OTHER_SCHOOL, PUBLIC_URL, SCHOOL, incident_event, staff_event

TEACHER, DSL, DEPUTY, HEAD, ADMIN, OTHER_TEACHER = 10, 20, 21, 30, 60, 11
RECORDED = datetime(2026, 1, 6, 10, 0)  # incident_event's occurred_at (a Tuesday, GMT)


def actor(user_id, roles=("staff",), school_id=SCHOOL, second_factor=True) -> Actor:
    return Actor(user_id=user_id, school_id=school_id, name=f"user {user_id}", roles=tuple(roles),
                 second_factor_at=1e12 if second_factor else None)


def event(event_type: str, occurred_at: str = "2026-01-06T10:00:00Z", school_id: int = SCHOOL, **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "occurred_at": occurred_at,
            "school_id": school_id, **fields}


@pytest.fixture
def school(sessions):
    with sessions.begin() as session:
        for e in (staff_event(TEACHER, "Tess Teacher"), staff_event(OTHER_TEACHER, "Omar Other"),
                  staff_event(DSL, "Dana Lead", roles=["staff", "dsl"]),
                  staff_event(DEPUTY, "Dev Deputy", roles=["staff", "dsl"]),
                  staff_event(HEAD, "Sam Head", roles=["staff", "slt"]),
                  staff_event(ADMIN, "Ada Admin", roles=["admin"])):
            domain.save_staff_member(session, e)
    return sessions


def record(sessions, **kwargs) -> dict:
    e = incident_event(TEACHER, **kwargs)
    with sessions.begin() as session:
        domain.raise_alerts(session, e, PUBLIC_URL)
    return e


def escalate(sessions, now) -> int:
    with sessions() as session:
        return schedule.escalate_due(session, now, PUBLIC_URL)


def opened(sessions, incident_id, user_id, at="2026-01-06T10:20:00Z") -> None:
    with sessions.begin() as session:
        domain.note_incident_opened(session, event("incident_opened", occurred_at=at, incident_id=incident_id,
                                                   user_id=user_id))


def alerts_of(sessions, incident_id, kind=None) -> list[tuple[int, str, int]]:
    with sessions() as session:
        query = select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)
        return [(a.user_id, a.kind, a.escalation_level) for a in session.scalars(query)
                if kind is None or a.kind == kind]


# --- escalation -------------------------------------------------------------------------------

def test_an_urgent_incident_nobody_opens_goes_to_the_dsl_team_then_slt_then_both_each_interval(school):
    incident = record(school, alert_user_ids=[DSL], alert_groups=[], urgent=True)["incident_id"]
    assert alerts_of(school, incident) == [(DSL, "alert", 0)]
    assert escalate(school, RECORDED + timedelta(minutes=14, seconds=59)) == 0  # not yet
    assert escalate(school, RECORDED + timedelta(minutes=15)) == 1
    assert alerts_of(school, incident, "escalation") == [(DSL, "escalation", 1), (DEPUTY, "escalation", 1)]
    assert escalate(school, RECORDED + timedelta(minutes=16)) == 0  # the next is an interval later
    assert escalate(school, RECORDED + timedelta(minutes=30)) == 1
    assert escalate(school, RECORDED + timedelta(minutes=45)) == 1
    assert alerts_of(school, incident, "escalation")[2:] == [
        (HEAD, "escalation", 2), (DSL, "escalation", 3), (DEPUTY, "escalation", 3), (HEAD, "escalation", 3)]
    with school() as session:
        mails = session.scalars(select(Mail).join(Alert, Alert.id == Mail.alert_id)
                                .where(Alert.kind == "escalation")).all()
        view = queries.incident_alerts(session, actor(DSL, ["dsl"]), incident)
    assert len(mails) == 6 and {m.subject for m in mails} == {"URGENT: Haven: a new alert for you"}
    assert all("has not yet been opened by anyone on the DSL team" in " ".join(m.body.split()) for m in mails)
    assert [(e["level"], e["to"], e["recipients"]) for e in view["escalations"]] == \
        [(1, "dsl_team", 2), (2, "slt", 1), (3, "dsl_team_and_slt", 3)]
    assert view["opened_at"] is None


def test_the_dsl_team_opening_it_stops_the_escalation_but_anyone_elses_reading_does_not(school):
    incident = record(school, alert_user_ids=[HEAD], alert_groups=["dsl"], urgent=True)["incident_id"]
    opened(school, incident, HEAD, at="2026-01-06T10:05:00Z")  # SLT read it: a receipt, not the DSL team
    assert escalate(school, RECORDED + timedelta(minutes=15)) == 1
    opened(school, incident, DEPUTY, at="2026-01-06T10:20:00Z")
    assert escalate(school, RECORDED + timedelta(hours=5)) == 0
    with school() as session:
        view = queries.incident_alerts(session, actor(DSL, ["dsl"]), incident)
    assert (view["opened_at"], view["opened_by"]) == ("2026-01-06T10:20:00Z", {"id": DEPUTY, "name": "Dev Deputy"})
    receipts = {(r["recipient"]["name"], r["kind"]): r["read_at"] for r in view["receipts"]}
    assert receipts[("Sam Head", "alert")] == "2026-01-06T10:05:00Z"
    assert receipts[("Dev Deputy", "alert")] == receipts[("Dev Deputy", "escalation")] == "2026-01-06T10:20:00Z"
    assert receipts[("Dana Lead", "alert")] is None


def test_a_routine_incident_is_never_escalated_and_an_opened_one_is_off_the_unopened_list(school):
    routine = record(school, alert_groups=["dsl"])["incident_id"]
    urgent = record(school, alert_groups=["dsl"], urgent=True)["incident_id"]
    assert escalate(school, RECORDED + timedelta(days=2)) == 1  # the urgent one only
    with school() as session:
        waiting = queries.unopened_incidents(session, actor(DSL, ["dsl"]))
    assert [(w["incident_id"], w["urgent"]) for w in waiting] == [(urgent, True), (routine, False)]
    assert waiting[0]["recorded_by"] == {"id": TEACHER, "name": "Tess Teacher"}
    opened(school, urgent, DSL)
    with school() as session:
        assert [w["incident_id"] for w in queries.unopened_incidents(session, actor(DSL, ["dsl"]))] == [routine]
        for caller in (actor(HEAD, ["slt"]), actor(TEACHER), actor(ADMIN, ["admin"])):
            with pytest.raises(Forbidden):
                queries.unopened_incidents(session, caller)


def test_escalation_follows_the_schools_interval_and_never_reaches_staff_the_record_names(school):
    with school.begin() as session:
        queries.save_school_settings(session, actor(ADMIN, ["admin"]),
                                     SchoolAlertSettingsIn(escalate_after_minutes=5).model_dump())
    incident = record(school, alert_groups=["dsl"], urgent=True, excluded_user_ids=[DEPUTY])["incident_id"]
    assert escalate(school, RECORDED + timedelta(minutes=4)) == 0
    assert escalate(school, RECORDED + timedelta(minutes=5)) == 1
    assert alerts_of(school, incident, "escalation") == [(DSL, "escalation", 1)]
    with school() as session:
        with pytest.raises(Forbidden):  # the record names them: they do not see who was alerted either
            queries.incident_alerts(session, actor(DEPUTY, ["dsl"]), incident)
        assert [w["incident_id"] for w in queries.unopened_incidents(session, actor(DEPUTY, ["dsl"]))] == []


def test_escalation_stops_after_the_last_repeat(school):
    incident = record(school, alert_groups=["dsl"], urgent=True)["incident_id"]
    now = RECORDED
    for _ in range(schedule.MAX_ESCALATIONS + 3):
        now += timedelta(minutes=15)
        escalate(school, now)
    with school() as session:
        watched = session.get(WatchedIncident, incident)
        levels = session.scalars(select(Escalation.level).where(Escalation.incident_id == incident)).all()
    assert (watched.escalation_level, watched.next_escalation_at) == (schedule.MAX_ESCALATIONS, None)
    assert sorted(levels) == list(range(1, schedule.MAX_ESCALATIONS + 1))


def test_a_redelivered_open_event_changes_nothing_and_an_unknown_incident_is_not_an_error(school):
    incident = record(school, alert_groups=["dsl"], urgent=True)["incident_id"]
    e = event("incident_opened", occurred_at="2026-01-06T10:02:00Z", incident_id=incident, user_id=DSL)
    with school.begin() as session:
        domain.note_incident_opened(session, e)
    with school.begin() as session:  # the same event again, and a later open: the first stays
        domain.note_incident_opened(session, e)
        domain.note_incident_opened(session, event("incident_opened", occurred_at="2026-01-06T11:00:00Z",
                                                   incident_id=incident, user_id=DEPUTY))
        domain.note_incident_opened(session, event("incident_opened", incident_id=999999, user_id=TEACHER))
    with school() as session:
        watched = session.get(WatchedIncident, incident)
    assert (watched.opened_at, watched.opened_by) == (datetime(2026, 1, 6, 10, 2), DSL)


# --- who may see the receipts ----------------------------------------------------------------------

def test_the_recorder_and_the_dsl_team_see_who_was_alerted_nobody_else_does(school):
    incident = record(school, alert_user_ids=[OTHER_TEACHER], alert_groups=["dsl"])["incident_id"]
    with school() as session:
        for reader in (actor(TEACHER), actor(DSL, ["dsl"])):
            names = {r["recipient"]["name"] for r in queries.incident_alerts(session, reader, incident)["receipts"]}
            assert names == {"Omar Other", "Dana Lead", "Dev Deputy"}
        for stranger in (actor(OTHER_TEACHER), actor(HEAD, ["slt"]), actor(ADMIN, ["admin"]),
                         actor(TEACHER, school_id=OTHER_SCHOOL)):
            with pytest.raises(Forbidden):
                queries.incident_alerts(session, stranger, incident)
        with pytest.raises(NotFound):  # another school's DSL: no such incident in their school
            queries.incident_alerts(session, actor(DSL, ["dsl"], school_id=OTHER_SCHOOL), incident)
        with pytest.raises(Forbidden):  # a member of staff cannot tell a missing incident from a refused one
            queries.incident_alerts(session, actor(TEACHER), 424242)
        with pytest.raises(NotFound):
            queries.incident_alerts(session, actor(DSL, ["dsl"]), 424242)


# --- follow-ups ---------------------------------------------------------------------------------

def test_an_amendment_by_someone_else_tells_the_recorder_and_their_own_does_not(school):
    incident = record(school, alert_groups=["dsl"])["incident_id"]
    fields = dict(incident_id=incident, pupil_id=987654, amendment_id=1, field="account", recorded_by=TEACHER)
    with school.begin() as session:
        assert domain.raise_amendment_alert(session, event("incident_amended", amended_by=TEACHER, **fields),
                                            PUBLIC_URL) is None
        alert = domain.raise_amendment_alert(session, event("incident_amended", amended_by=DSL, **fields), PUBLIC_URL)
    assert (alert.user_id, alert.kind, alert.raised_by_name) == (TEACHER, "amendment", "Dana Lead")
    with school() as session:
        [mail] = session.scalars(select(Mail).where(Mail.alert_id == alert.id)).all()
    assert "Dana Lead has amended a record you made" in " ".join(mail.body.split())
    assert "account" not in mail.body


# --- reminders ------------------------------------------------------------------------------------

def assign(sessions, action_id, due_on, assigned_to=TEACHER):
    with sessions.begin() as session:
        domain.raise_action_alert(session, event("action_assigned", action_id=action_id, incident_id=321,
                                                 assigned_to=assigned_to, assigned_by=DSL, due_on=due_on),
                                  PUBLIC_URL)


def remind(sessions, now) -> int:
    with sessions() as session:
        return schedule.send_reminders(session, now, PUBLIC_URL)


def test_an_action_reminds_its_owner_the_day_before_and_once_when_overdue_after_the_morning_hour(school):
    assign(school, 1, "2026-03-11")
    assert remind(school, datetime(2026, 3, 9, 12, 0)) == 0    # two days before
    assert remind(school, datetime(2026, 3, 10, 7, 0)) == 0    # the day before, before 07:30
    assert remind(school, datetime(2026, 3, 10, 7, 30)) == 1   # the day before
    assert remind(school, datetime(2026, 3, 10, 18, 0)) == 0   # once
    assert remind(school, datetime(2026, 3, 11, 12, 0)) == 0   # due today: not overdue yet
    assert remind(school, datetime(2026, 3, 12, 7, 29)) == 0
    assert remind(school, datetime(2026, 3, 12, 7, 30)) == 1   # overdue
    assert remind(school, datetime(2026, 3, 20, 9, 0)) == 0    # once
    with school() as session:
        bodies = [" ".join(m.body.split()) for m in session.scalars(
            select(Mail).join(Alert, Alert.id == Mail.alert_id).where(Alert.kind == "reminder").order_by(Mail.id))]
    assert "due tomorrow, Wednesday 11 March 2026" in bodies[0]
    assert "overdue: it was due on Wednesday 11 March 2026" in bodies[1]


def test_school_time_is_local_time_in_summer(school):
    assign(school, 2, "2026-07-02")
    assert remind(school, datetime(2026, 7, 1, 6, 29)) == 0    # 07:29 in London (BST)
    assert remind(school, datetime(2026, 7, 1, 6, 30)) == 1


def test_a_completed_action_is_not_reminded_of(school):
    assign(school, 3, "2026-03-11")
    with school.begin() as session:
        domain.note_action_completed(session, event("action_completed", action_id=3, incident_id=321,
                                                     completed_by=TEACHER))
    assert remind(school, datetime(2026, 3, 10, 9, 0)) == 0
    assert remind(school, datetime(2026, 3, 13, 9, 0)) == 0
    with school() as session:
        assert session.get(Reminder, 3).completed_at is not None


# --- digests and preferences -----------------------------------------------------------------------

def set_digest(sessions, user_id, roles=("staff",), digest=True):
    with sessions.begin() as session:
        return queries.save_preferences(session, actor(user_id, roles), PreferencesIn(digest=digest).model_dump())


def digests(sessions, now) -> int:
    with sessions() as session:
        return schedule.send_digests(session, now, PUBLIC_URL)


def test_a_digest_holds_non_urgent_alerts_for_one_email_at_the_schools_time_and_urgent_ones_go_at_once(school):
    assert set_digest(school, HEAD, ["slt"]) == {"digest": True, "digest_time": "07:30"}
    for _ in range(3):
        record(school, alert_user_ids=[HEAD], alert_groups=[])
    record(school, alert_user_ids=[HEAD], alert_groups=[], urgent=True)
    with school() as session:
        to_head = session.scalars(select(Mail).where(Mail.user_id == HEAD)).all()
        held = session.scalars(select(Alert).where(Alert.user_id == HEAD, Alert.digest_pending.is_(True))).all()
    assert [m.subject for m in to_head] == ["URGENT: Haven: a new alert for you"]
    assert len(held) == 3
    # The alerts were made "now"; the next digest time after them is tomorrow's 07:30 (or today's).
    made = held[0].created_at
    assert digests(school, made) == 0
    assert digests(school, made + timedelta(days=1, hours=1)) == 1
    assert digests(school, made + timedelta(days=1, hours=2)) == 0  # one digest, once
    with school() as session:
        [digest] = session.scalars(select(Mail).where(Mail.user_id == HEAD, Mail.alert_id.is_(None))).all()
        view = queries.list_alerts(session, actor(HEAD, ["slt"]))
    assert digest.subject == "Haven: your alerts today"
    assert "You have 3 new alerts in Haven" in " ".join(digest.body.split())
    assert f"{PUBLIC_URL}/alerts" in digest.body
    assert len(view) == 4  # every alert is still in the app


def test_the_digest_goes_at_the_time_the_school_sets(school):
    with school.begin() as session:
        queries.save_school_settings(session, actor(DSL, ["dsl"]), SchoolAlertSettingsIn(digest_time="16:00").model_dump())
    set_digest(school, HEAD, ["slt"])
    record(school, alert_user_ids=[HEAD], alert_groups=[])
    with school.begin() as session:  # made at 09:00 on a winter day
        session.execute(Alert.__table__.update().values(created_at=datetime(2026, 2, 3, 9, 0)))
    assert digests(school, datetime(2026, 2, 3, 15, 59)) == 0
    assert digests(school, datetime(2026, 2, 3, 16, 0)) == 1


def test_preferences_are_each_persons_own_and_settings_are_for_the_dsl_team_and_administrators(school):
    set_digest(school, TEACHER)
    with school() as session:
        assert queries.get_preferences(session, actor(TEACHER))["digest"] is True
        assert queries.get_preferences(session, actor(HEAD, ["slt"]))["digest"] is False
        assert queries.get_preferences(session, actor(TEACHER, school_id=OTHER_SCHOOL))["digest"] is False
        assert queries.get_school_settings(session, actor(ADMIN, ["admin"]))["escalate_after_minutes"] == 15
        for caller in (actor(TEACHER), actor(HEAD, ["slt"]), actor(ADMIN, ["admin"], second_factor=False),
                       actor(DSL, ["dsl"], second_factor=False)):
            with pytest.raises(Forbidden):
                queries.get_school_settings(session, caller)
            with pytest.raises(Forbidden):
                queries.save_school_settings(session, caller, SchoolAlertSettingsIn().model_dump())
