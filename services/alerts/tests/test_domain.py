"""The alerts rules against real PostgreSQL: the staff directory, who is alerted, what the e-mail says."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from services.alerts import domain, queries
from services.alerts.exceptions import DirectoryIncomplete, Forbidden, MalformedEvent, NotFound
from services.alerts.models import Alert, Mail, ProcessedEvent, SchoolSettings, StaffMember, WatchedIncident
from services.common.actor import Actor

from .conftest import OTHER_SCHOOL, PUBLIC_URL, SCHOOL, incident_event, staff_event

TEACHER, DSL, DEPUTY, LAPSED_DSL, SLT, OTHER_DSL, NO_EMAIL = 10, 20, 21, 22, 30, 40, 50


def save(sessions, event) -> bool:
    with sessions.begin() as session:
        return domain.save_staff_member(session, event)


def raise_alerts(sessions, event) -> list[int]:
    with sessions.begin() as session:
        return [a.id for a in domain.raise_alerts(session, event, PUBLIC_URL)]


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def alerted(sessions, incident_id) -> list[int]:
    with sessions() as session:
        return sorted(session.scalars(select(Alert.user_id).where(Alert.incident_id == incident_id)))


def actor(user_id, roles=("staff",), school_id=SCHOOL, second_factor=False) -> Actor:
    return Actor(user_id=user_id, school_id=school_id, name=f"user {user_id}", roles=tuple(roles),
                 second_factor_at=time.time() if second_factor else None)


@pytest.fixture
def school(sessions):
    for event in (staff_event(TEACHER, "Tess Teacher"),
                  staff_event(DSL, "Dana Lead", roles=["staff", "dsl"]),
                  staff_event(DEPUTY, "Dev Deputy", roles=["staff", "dsl", "slt"]),
                  staff_event(LAPSED_DSL, "Ivy Left", roles=["dsl"], active=False),
                  staff_event(SLT, "Sam Head", roles=["slt"]),
                  staff_event(OTHER_DSL, "Olga Elsewhere", roles=["dsl"], school_id=OTHER_SCHOOL),
                  staff_event(NO_EMAIL, "Nia Lunchtime", email=None)):
        assert save(sessions, event)
    return sessions


# --- the staff directory ----------------------------------------------------------------------

def test_staff_event_is_stored_and_a_redelivery_changes_nothing(sessions):
    event = staff_event(TEACHER, "Tess Teacher", roles=["staff"])
    assert save(sessions, event) is True
    assert save(sessions, dict(event, name="Someone Else")) is False  # same event_id: a redelivery
    with sessions() as session:
        staff = session.get(StaffMember, (TEACHER, SCHOOL))
        assert (staff.name, staff.email, staff.roles, staff.active) == \
            ("Tess Teacher", "user10@school.test", ["staff"], True)
    assert count(sessions, ProcessedEvent) == 1


def test_a_newer_staff_event_updates_and_an_older_one_arriving_late_is_ignored(sessions):
    save(sessions, staff_event(TEACHER, "Tess Teacher", occurred_at="2026-01-05T09:00:00Z"))
    save(sessions, staff_event(TEACHER, "Tess Lead", roles=["dsl"], occurred_at="2026-01-05T10:00:00Z"))
    # The 09:30 save was published before the 10:00 one but reaches us after it.
    assert save(sessions, staff_event(TEACHER, "Tess Stale", roles=["staff"], active=False,
                                      occurred_at="2026-01-05T09:30:00Z")) is False
    with sessions() as session:
        staff = session.get(StaffMember, (TEACHER, SCHOOL))
        assert (staff.name, staff.roles, staff.active) == ("Tess Lead", ["dsl"], True)


def test_an_event_from_the_future_is_refused_so_it_cannot_outrank_genuine_updates(sessions):
    forged = staff_event(DSL, "Dana Lead", roles=["dsl"], email="dana@elsewhere.example",
                         occurred_at="2099-01-01T00:00:00Z")
    with pytest.raises(MalformedEvent, match="future"):
        save(sessions, forged)
    assert count(sessions, StaffMember) == 0 and count(sessions, ProcessedEvent) == 0


def test_a_category_name_cannot_carry_a_link_or_an_address_into_an_email(school):
    with school.begin() as session:
        session.add(SchoolSettings(school_id=SCHOOL, escalate_after_minutes=15, digest_time="07:30",
                                   category_in_email=True, unactioned_after_days=5))
    raise_alerts(school, incident_event(TEACHER, alert_user_ids=[SLT], alert_groups=[], category_names=[
        "Re-verify your login at https://evil.example/login now", "Online safety (e.g. sexting)"]))
    with school() as session:
        [mail] = session.scalars(select(Mail)).all()
    for body in (mail.body, mail.html):
        assert "evil.example" not in body and body.count("://") == body.count(PUBLIC_URL)  # only our link
    assert "Online safety (e g sexting)" in " ".join(mail.body.split())


def test_a_staff_name_cannot_carry_a_link_or_an_address_into_an_email(sessions):
    # Names made before the gateway refused such text, or by a gateway bug: e-mail still shows no address.
    save(sessions, staff_event(TEACHER, "Tess at www.evil.example or https://evil.example/x"))
    save(sessions, staff_event(DSL, "Dana <reset@evil.example>", roles=["dsl"]))
    raise_alerts(sessions, incident_event(TEACHER, alert_groups=["dsl"]))
    with sessions() as session:
        [mail] = session.scalars(select(Mail)).all()
    for part in (mail.subject, mail.body, mail.html):
        assert "evil.example" not in part and "@" not in part.replace("haven@", "")
        assert part.count("://") == part.count(PUBLIC_URL)  # only our own link
    assert "Tess at www. evil. example" in " ".join(mail.body.split())


def test_a_malformed_staff_event_is_refused_so_it_ends_in_the_dead_letter_queue(sessions):
    with pytest.raises(MalformedEvent):
        save(sessions, dict(staff_event(TEACHER, "Tess"), user_id="10"))
    assert count(sessions, StaffMember) == 0


# --- who is alerted ---------------------------------------------------------------------------

def test_the_dsl_group_is_every_active_dsl_in_the_school(school):
    event = incident_event(TEACHER, alert_groups=["dsl"])
    raise_alerts(school, event)
    assert alerted(school, event["incident_id"]) == [DSL, DEPUTY]


def test_the_slt_group_is_every_active_member_of_slt_in_the_school(school):
    event = incident_event(TEACHER, alert_groups=["slt"], category_names=["Behaviour"])
    raise_alerts(school, event)
    assert alerted(school, event["incident_id"]) == [DEPUTY, SLT]


def test_named_staff_and_groups_are_alerted_once_each(school):
    event = incident_event(TEACHER, alert_user_ids=[DSL, SLT, SLT], alert_groups=["dsl", "slt"])
    raise_alerts(school, event)
    assert alerted(school, event["incident_id"]) == [DSL, DEPUTY, SLT]
    assert count(school, Mail) == 3


def test_staff_a_record_names_are_never_alerted_whether_named_or_in_a_group(school):
    # An allegation about the deputy DSL: the DSL group is alerted, and someone named them too.
    event = incident_event(TEACHER, alert_user_ids=[DEPUTY, SLT], alert_groups=["dsl"], excluded_user_ids=[DEPUTY])
    raise_alerts(school, event)
    assert alerted(school, event["incident_id"]) == [DSL, SLT]
    with school() as session:
        assert DEPUTY not in set(session.scalars(select(Alert.user_id)))
        assert count(school, Mail) == 2


def test_a_malformed_exclusion_list_is_refused(school):
    with pytest.raises(MalformedEvent):
        raise_alerts(school, incident_event(TEACHER, alert_groups=["dsl"], excluded_user_ids=["21"]))
    assert count(school, Alert) == 0


def test_named_staff_who_have_left_or_work_elsewhere_are_not_alerted(school):
    event = incident_event(TEACHER, alert_user_ids=[LAPSED_DSL, OTHER_DSL, SLT], alert_groups=[])
    raise_alerts(school, event)
    assert alerted(school, event["incident_id"]) == [SLT]


def test_staff_without_an_email_address_get_the_in_app_alert_only(school):
    event = incident_event(TEACHER, alert_user_ids=[NO_EMAIL], alert_groups=[])
    raise_alerts(school, event)
    assert alerted(school, event["incident_id"]) == [NO_EMAIL]
    assert count(school, Mail) == 0


def test_a_redelivered_incident_event_creates_nothing_new(school):
    event = incident_event(TEACHER, alert_user_ids=[SLT], alert_groups=["dsl"])
    assert len(raise_alerts(school, event)) == 3
    assert raise_alerts(school, event) == []
    assert (count(school, Alert), count(school, Mail)) == (3, 3)


@pytest.mark.parametrize("case", ["unknown recorder", "unknown named user", "empty group"])
def test_an_incomplete_directory_fails_the_event_so_it_is_retried_and_writes_nothing(sessions, case):
    save(sessions, staff_event(TEACHER, "Tess Teacher"))
    save(sessions, staff_event(SLT, "Sam Head", roles=["slt"]))
    recorder, named, groups = {"unknown recorder": (99, [SLT], []),
                               "unknown named user": (TEACHER, [SLT, 77], []),
                               "empty group": (TEACHER, [SLT], ["dsl"])}[case]
    event = incident_event(recorder, alert_user_ids=named, alert_groups=groups)
    with pytest.raises(DirectoryIncomplete):
        raise_alerts(sessions, event)
    assert (count(sessions, Alert), count(sessions, Mail), count(sessions, ProcessedEvent)) == (0, 0, 2)

    # The missing staff event arrives; the retried incident event now goes through.
    save(sessions, staff_event(99, "Rae Recorder"))
    save(sessions, staff_event(77, "Nat Named"))
    save(sessions, staff_event(DSL, "Dana Lead", roles=["dsl"]))
    assert raise_alerts(sessions, event)
    assert count(sessions, ProcessedEvent) == 6


def test_an_unknown_alert_group_is_refused(school):
    with pytest.raises(MalformedEvent):
        raise_alerts(school, incident_event(TEACHER, alert_groups=["governors"]))


# --- what the e-mail says (DESIGN rule 7) -----------------------------------------------------

def test_the_email_names_the_raiser_categories_urgency_and_links_but_carries_nothing_about_the_child(school):
    # Even if a publisher wrongly put the account or the pupil's name on the event, it must not travel.
    event = incident_event(TEACHER, alert_user_ids=[], alert_groups=["dsl"], urgent=True,
                           category_names=["Safeguarding", "Neglect"],
                           account="SECRET-ACCOUNT said her dad hit her", pupil_name="SECRET-PUPIL Smith")
    raise_alerts(school, event)
    with school() as session:
        mails = session.scalars(select(Mail).order_by(Mail.to_address)).all()
    assert [m.to_address for m in mails] == ["user20@school.test", "user21@school.test"]
    for mail in mails:
        assert mail.subject == "URGENT: Haven: a new alert for you"
        for body in (mail.body, mail.html):
            assert "Tess Teacher" in body and "URGENT" in body
            assert "Safeguarding" not in body  # the school has not chosen to name categories
            assert f"{PUBLIC_URL}/incidents/{event['incident_id']}" in body
            for secret in ("SECRET", "987654", "dad"):  # 987654 is the pupil's id
                assert secret not in mail.subject and secret not in body
        assert mail.status == "pending" and mail.attempts == 0 and mail.message_id


def test_the_category_is_named_only_when_the_school_has_chosen_to_and_names_pass_the_allow_list(school):
    with school.begin() as session:
        session.add(SchoolSettings(school_id=SCHOOL, escalate_after_minutes=15, digest_time="07:30",
                                   category_in_email=True, unactioned_after_days=5))
        domain.save_staff_member(session, staff_event(TEACHER, "Tess <a href=http://x>Teacher</a>",
                                                      occurred_at="2026-01-06T09:00:00Z"))
    raise_alerts(school, incident_event(TEACHER, alert_groups=["dsl"], category_names=["Safeguarding", "Neglect"]))
    with school() as session:
        mails = session.scalars(select(Mail)).all()
    assert len(mails) == 2
    for mail in mails:
        assert mail.subject == "Haven: a new alert for you"
        assert "Category: Safeguarding, Neglect" in mail.body
        assert "http://x" not in mail.body and "<a href=http" not in mail.html


def test_a_routine_concern_is_not_marked_urgent(school):
    event = incident_event(TEACHER, alert_user_ids=[SLT], alert_groups=[], category_names=["Behaviour"])
    raise_alerts(school, event)
    with school() as session:
        mail = session.scalars(select(Mail)).one()
    assert mail.subject == "Haven: a new alert for you"
    assert "URGENT" not in mail.body and "URGENT" not in mail.html


# --- what staff see ---------------------------------------------------------------------------

def test_list_alerts_returns_only_the_callers_alerts_newest_first(school):
    first = incident_event(TEACHER, alert_user_ids=[SLT], alert_groups=[])
    second = incident_event(TEACHER, alert_user_ids=[SLT], alert_groups=["dsl"], urgent=True)
    raise_alerts(school, first)
    raise_alerts(school, second)
    with school() as session:
        mine = queries.list_alerts(session, actor(SLT, roles=["slt"]))
        assert [a["incident_id"] for a in mine] == [second["incident_id"], first["incident_id"]]
        assert mine[0] == {"id": mine[0]["id"], "incident_id": second["incident_id"], "tray_item_id": None,
                           "created_at": mine[0]["created_at"], "read_at": None,
                           "raised_by": {"id": TEACHER, "name": "Tess Teacher"},
                           "categories": ["Safeguarding"], "urgent": True, "kind": "alert",
                           "escalation_level": 0}
        assert mine[0]["created_at"].endswith("Z")
        assert [a["incident_id"] for a in queries.list_alerts(session, actor(DSL, roles=["dsl"]))] == \
            [second["incident_id"]]
        assert queries.list_alerts(session, actor(TEACHER)) == []
        # The same user id presented for another school sees nothing.
        assert queries.list_alerts(session, actor(SLT, school_id=OTHER_SCHOOL)) == []
        assert len(queries.list_alerts(session, actor(SLT), limit=1)) == 1


def test_marking_an_alert_read_keeps_the_first_read_time_and_only_works_on_your_own(school):
    raise_alerts(school, incident_event(TEACHER, alert_user_ids=[SLT], alert_groups=["dsl"]))
    with school.begin() as session:
        alert_id = queries.list_alerts(session, actor(SLT))[0]["id"]
        for intruder in (actor(DSL, roles=["dsl"], second_factor=True), actor(SLT, school_id=OTHER_SCHOOL)):
            with pytest.raises(NotFound):
                queries.mark_alert_read(session, intruder, alert_id)
        read = queries.mark_alert_read(session, actor(SLT), alert_id)
        assert read["read_at"].endswith("Z")
        assert queries.mark_alert_read(session, actor(SLT), alert_id)["read_at"] == read["read_at"]
    with school() as session:
        assert queries.list_alerts(session, actor(SLT), unread_only=True) == []
        assert len(queries.list_alerts(session, actor(DSL), unread_only=True)) == 1


def test_only_the_dsl_team_and_administrators_with_a_second_factor_may_see_failed_mail(school):
    with school() as session:
        assert queries.failed_mail(session, actor(DSL, roles=["dsl"], second_factor=True)) == []
        assert queries.failed_mail(session, actor(60, roles=["admin"], second_factor=True)) == []
        for caller in (actor(DSL, roles=["dsl"]), actor(SLT, roles=["slt"], second_factor=True),
                       actor(60, roles=["admin"]), actor(TEACHER, second_factor=True)):
            with pytest.raises(Forbidden):
                queries.failed_mail(session, caller)


# --- online-monitoring alerts waiting in the tray -----------------------------------------------

def tray_event(tray_item_id: int, severity: str, school_id: int = SCHOOL) -> dict:
    import uuid
    return {"event_id": str(uuid.uuid4()), "event_type": "tray_item_received", "occurred_at": "2026-11-28T10:00:00Z",
            "school_id": school_id, "tray_item_id": tray_item_id, "severity": severity, "integration_id": 3,
            "matched": True}


def test_high_and_critical_tray_alerts_email_the_dsl_team_and_say_nothing_else(school):
    event = tray_event(77, "critical")
    with school.begin() as session:
        alerts = domain.raise_tray_alerts(session, event, PUBLIC_URL)
    assert sorted(a.user_id for a in alerts) == [DSL, DEPUTY]
    with school.begin() as session:
        assert domain.raise_tray_alerts(session, event, PUBLIC_URL) == []  # redelivered: nothing new
    with school() as session:
        mails = session.scalars(select(Mail).join(Alert, Mail.alert_id == Alert.id)
                                .where(Alert.tray_item_id == 77)).all()
        listed = queries.list_alerts(session, actor(DSL, roles=("dsl",), second_factor=True))
    assert len(mails) == 2 and all(m.subject == "URGENT: Haven: a new alert for you" and "critical" in m.body
                                   for m in mails)
    assert all(f"{PUBLIC_URL}/tray" in m.body for m in mails)
    assert [(a["incident_id"], a["tray_item_id"], a["urgent"]) for a in listed if a["tray_item_id"]] == [(None, 77, True)]


@pytest.mark.parametrize("severity", ["low", "medium"])
def test_lower_severity_tray_alerts_wait_in_the_tray_without_email(school, severity):
    with school.begin() as session:
        assert domain.raise_tray_alerts(session, tray_event(78, severity), PUBLIC_URL) == []
    with school() as session:
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.tray_item_id == 78)) == 0


def test_an_assigned_action_is_mailed_to_the_assignee_without_what_it_is(school):
    import uuid
    event = {"event_id": str(uuid.uuid4()), "event_type": "action_assigned", "occurred_at": "2026-11-28T10:00:00Z",
             "school_id": SCHOOL, "action_id": 5, "incident_id": 321, "assigned_to": SLT, "assigned_by": DSL,
             "due_on": "2026-12-01"}
    with school.begin() as session:
        alert = domain.raise_action_alert(session, event, PUBLIC_URL)
        assert domain.raise_action_alert(session, event, PUBLIC_URL) is None  # redelivered
    with school() as session:
        [mail] = session.scalars(select(Mail).where(Mail.alert_id == alert.id)).all()
    assert alert.user_id == SLT and alert.raised_by_name == "Dana Lead" and alert.incident_id == 321
    assert "Dana Lead has assigned you an action" in " ".join(mail.body.split())
    assert f"{PUBLIC_URL}/incidents/321" in mail.body and "Tuesday 1 December 2026" in " ".join(mail.body.split())


def test_an_incident_that_alerts_nobody_is_marked_handled_without_looking_anyone_up(sessions):
    """No one named and no group: nothing to raise, and no need for the recorder to be in the
    directory yet (the event is not retried for want of a name it would never use)."""
    event = incident_event(12345, alert_user_ids=[], alert_groups=[])
    assert raise_alerts(sessions, event) == []
    assert (count(sessions, Alert), count(sessions, Mail), count(sessions, ProcessedEvent)) == (0, 0, 1)
    assert count(sessions, WatchedIncident) == 1  # still on the DSL team's list of incidents to open
    assert raise_alerts(sessions, event) == []  # a redelivery
    assert count(sessions, ProcessedEvent) == 1


# --- trusts: one account, an entry per school it holds roles at ---------------------------------------

def test_a_member_who_is_dsl_at_another_school_gets_that_schools_dsl_alerts_and_never_ours(school):
    # OTHER_DSL's home is OTHER_SCHOOL; the teacher here also holds the DSL role there (a membership).
    assert save(school, staff_event(TEACHER, "Tess Teacher", roles=["dsl"], school_id=OTHER_SCHOOL))
    there = incident_event(OTHER_DSL, alert_groups=["dsl"], school_id=OTHER_SCHOOL)
    here = incident_event(OTHER_DSL, alert_groups=["dsl"])  # unknown recorder here: refused below
    raise_alerts(school, there)
    assert alerted(school, there["incident_id"]) == [TEACHER, OTHER_DSL]
    with school() as session:
        assert session.scalar(select(Alert.school_id).where(Alert.user_id == TEACHER)) == OTHER_SCHOOL
    # Our DSL group is still our DSLs: the teacher is staff here, whatever they are elsewhere.
    ours = incident_event(TEACHER, alert_groups=["dsl"])
    raise_alerts(school, ours)
    assert alerted(school, ours["incident_id"]) == [DSL, DEPUTY]
    with pytest.raises(DirectoryIncomplete):
        raise_alerts(school, here)  # a recorder of another school is no recorder here


def test_an_ended_membership_stops_that_schools_alerts_and_leaves_the_home_entry_alone(school):
    assert save(school, staff_event(TEACHER, "Tess Teacher", roles=["dsl"], school_id=OTHER_SCHOOL))
    assert save(school, staff_event(TEACHER, "Tess Teacher", roles=["dsl"], school_id=OTHER_SCHOOL, active=False,
                                    occurred_at="2026-01-05T10:00:00Z"))
    there = incident_event(OTHER_DSL, alert_groups=["dsl"], school_id=OTHER_SCHOOL)
    raise_alerts(school, there)
    assert alerted(school, there["incident_id"]) == [OTHER_DSL]
    with school() as session:
        home = session.get(StaffMember, (TEACHER, SCHOOL))
        assert home.active and home.roles == ["staff"]
    named = incident_event(TEACHER, alert_user_ids=[TEACHER], alert_groups=[])
    raise_alerts(school, named)
    assert alerted(school, named["incident_id"]) == [TEACHER]
