"""policy.py, rule by rule: who may read or attach to an incident (and check_incident_access), the tiers
(the DSL team, SLT, a monitoring system's key), and `may`, what a reader may do with one record."""
from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.contracts.incidents import INCIDENT_PERMISSIONS
from services.incidents import policy
from services.incidents.exceptions import Forbidden, NotFound
from services.incidents.models import IncidentAlert
from services.incidents.policy import can_attach_to_incident, can_read_incident
from services.incidents.record import incidents as domain

from .conftest import new_record, DSL_USER, OTHER_SCHOOL, OTHER_TEACHER, SLT_USER, TEACHER, actor, category_id, pupil_id

RECORDER = actor(TEACHER)
OTHER_STAFF = actor(OTHER_TEACHER)
DSL_2FA = actor(DSL_USER, roles=("staff", "dsl"), second_factor=True)
DSL_NO_2FA = actor(DSL_USER, roles=("staff", "dsl"), second_factor=False)
SLT_2FA = actor(SLT_USER, roles=("slt",), second_factor=True)
SLT_NO_2FA = actor(SLT_USER, roles=("slt",), second_factor=False)
OTHER_SCHOOL_DSL = actor(DSL_USER, roles=("dsl",), school_id=OTHER_SCHOOL, second_factor=True)
OTHER_SCHOOL_SAME_ID = actor(TEACHER, school_id=OTHER_SCHOOL)


def recorded(session, *category_names):
    data = {"pupil_id": pupil_id(session, "Green"), "occurred_at": "2026-01-05T09:30:00Z",
            "account": "Seen crying at break.", "category_ids": [category_id(session, n) for n in category_names]}
    result = domain.record_incident(session, RECORDER, new_record(data))
    return domain._load_incident(session, RECORDER, result["id"])


@pytest.mark.parametrize("who, behaviour, safeguarding", [
    (RECORDER, True, True),
    (OTHER_STAFF, False, False),
    (DSL_2FA, True, True),
    (DSL_NO_2FA, False, False),
    (SLT_2FA, True, False),
    (SLT_NO_2FA, False, False),
    (OTHER_SCHOOL_DSL, False, False),
    (OTHER_SCHOOL_SAME_ID, False, False),
], ids=["recorder", "other-staff", "dsl", "dsl-without-2fa", "slt", "slt-without-2fa",
        "other-school-dsl", "other-school-same-user-id"])
def test_can_read_incident(session, who, behaviour, safeguarding):
    assert can_read_incident(who, recorded(session, "Behaviour")) is behaviour
    assert can_read_incident(who, recorded(session, "Safeguarding")) is safeguarding


def test_slt_cannot_read_an_incident_with_any_safeguarding_category(session):
    assert can_read_incident(SLT_2FA, recorded(session, "Attendance", "Parental contact")) is True
    # Bullying alerts SLT by default: they read it as shared with them, not whole.
    incident = recorded(session, "Bullying", "Online safety")
    assert policy.reads_whole(SLT_2FA, incident) is False and policy.reads_shared(SLT_2FA, incident) is True


@pytest.mark.parametrize("who, allowed", [
    (RECORDER, True), (OTHER_STAFF, False), (DSL_2FA, True), (DSL_NO_2FA, False), (SLT_2FA, False),
    (OTHER_SCHOOL_DSL, False), (OTHER_SCHOOL_SAME_ID, False),
], ids=["recorder", "other-staff", "dsl", "dsl-without-2fa", "slt", "other-school-dsl",
        "other-school-same-user-id"])
def test_can_attach_to_incident(session, who, allowed):
    assert can_attach_to_incident(who, recorded(session, "Behaviour")) is allowed


def test_check_incident_access_answers_with_ids_only(session):
    incident = recorded(session, "Safeguarding")
    for purpose in ("read", "attach"):
        assert domain.check_incident_access(session, DSL_2FA, incident.id, purpose) == {
            "incident_id": incident.id, "pupil_id": incident.pupil_id, "school_id": incident.school_id}


def test_check_incident_access_read_and_attach_differ_for_slt(session):
    incident = recorded(session, "Behaviour")
    assert domain.check_incident_access(session, SLT_2FA, incident.id, "read")["incident_id"] == incident.id
    with pytest.raises(Forbidden):
        domain.check_incident_access(session, SLT_2FA, incident.id, "attach")


def test_check_incident_access_refuses_other_staff(session):
    incident = recorded(session, "Behaviour")
    for purpose in ("read", "attach"):
        with pytest.raises(Forbidden):
            domain.check_incident_access(session, OTHER_STAFF, incident.id, purpose)


def test_check_incident_access_unknown_incident_is_not_found(session):
    recorded(session, "Behaviour")
    with pytest.raises(NotFound):
        domain.check_incident_access(session, DSL_2FA, 999_999, "read")


def test_another_schools_incident_is_not_found_rather_than_forbidden(session):
    incident = recorded(session, "Behaviour")
    with pytest.raises(NotFound):
        domain.check_incident_access(session, OTHER_SCHOOL_DSL, incident.id, "read")
    with pytest.raises(NotFound):
        domain.get_incident(session, OTHER_SCHOOL_DSL, incident.id)


def test_get_incident_applies_the_same_rule(session):
    incident = recorded(session, "Safeguarding")
    assert domain.get_incident(session, DSL_2FA, incident.id)["account"] == "Seen crying at break."
    with pytest.raises(Forbidden):
        domain.get_incident(session, SLT_2FA, incident.id)


@pytest.mark.parametrize("name", ["Medical", "SEN"])
def test_slt_cannot_read_medical_or_sen_records(session, name):
    assert can_read_incident(SLT_2FA, recorded(session, name)) is False
    assert can_read_incident(DSL_2FA, recorded(session, name)) is True


def test_an_integration_reads_nothing_even_with_a_colliding_user_id(session):
    incident = recorded(session, "Behaviour")
    integration = replace(RECORDER, kind="integration", roles=("integration",))
    assert can_read_incident(integration, incident) is False
    assert can_attach_to_incident(integration, incident) is False


# --- the tiers: one named rule each -----------------------------------------------------------------

INTEGRATION = replace(actor(40, roles=("integration",)), kind="integration")
INTEGRATION_CLAIMING_DSL = replace(actor(41, roles=("dsl",), second_factor=True), kind="integration")
TEAM_RULES = [policy.is_dsl_team, policy.sees_dsl_only_sections, policy.sees_leavers, policy.sees_original]


@pytest.mark.parametrize("who, allowed", [
    (DSL_2FA, True), (DSL_NO_2FA, False), (SLT_2FA, False), (RECORDER, False), (INTEGRATION, False),
    (INTEGRATION_CLAIMING_DSL, False),
], ids=["dsl", "dsl-without-2fa", "slt", "staff", "integration", "integration-with-a-dsl-role"])
def test_the_dsl_team_rules(who, allowed):
    for rule in TEAM_RULES:
        assert rule(who) is allowed, rule.__name__


@pytest.mark.parametrize("who", [DSL_NO_2FA, SLT_2FA, RECORDER, INTEGRATION], ids=["dsl-without-2fa", "slt",
                                                                                  "staff", "integration"])
def test_require_dsl_team_refuses_saying_what_only_the_team_may_do(who):
    with pytest.raises(Forbidden, match=r"^Only the DSL team can manage cases\.$"):
        policy.require_dsl_team(who, "manage cases")


def test_require_dsl_team_lets_the_team_through():
    assert policy.require_dsl_team(DSL_2FA, "manage cases") is None


@pytest.mark.parametrize("who, allowed", [
    (DSL_2FA, True), (SLT_2FA, True), (DSL_NO_2FA, False), (SLT_NO_2FA, False), (RECORDER, False),
    (INTEGRATION, False),
], ids=["dsl", "slt", "dsl-without-2fa", "slt-without-2fa", "staff", "integration"])
def test_the_chronology_and_the_front_sheet_are_for_the_dsl_team_and_slt(who, allowed):
    assert policy.may_read_chronology(who) is allowed
    assert policy.may_read_front_sheet(who) is allowed


@pytest.mark.parametrize("who, allowed", [
    (DSL_2FA, True), (SLT_2FA, True), (DSL_NO_2FA, False), (RECORDER, False), (INTEGRATION, False),
], ids=["dsl", "slt", "dsl-without-2fa", "staff", "integration"])
def test_full_pupil_details_for_the_dsl_team_and_slt(who, allowed):
    assert policy.sees_details(who) is allowed


@pytest.mark.parametrize("who, allowed", [
    (INTEGRATION, True), (INTEGRATION_CLAIMING_DSL, False), (DSL_2FA, False), (RECORDER, False),
], ids=["integration", "integration-without-its-role", "dsl", "staff"])
def test_only_a_monitoring_systems_key_posts_to_the_tray(who, allowed):
    assert policy.may_post_to_tray(who) is allowed


@pytest.mark.parametrize("who, allowed", [
    (DSL_2FA, True), (DSL_NO_2FA, False), (SLT_2FA, False), (RECORDER, False), (OTHER_SCHOOL_DSL, False),
], ids=["dsl", "dsl-without-2fa", "slt", "recorder", "other-school-dsl"])
def test_decisions_and_outcomes_are_recorded_by_the_schools_dsl_team(session, who, allowed):
    assert policy.can_record_decision(who, recorded(session, "Behaviour")) is allowed


# --- may: what a reader may do with one record ---------------------------------------------------------

ALERTED = actor(OTHER_TEACHER)


def alerted_about(session, *category_names):
    data = {"pupil_id": pupil_id(session, "Green"), "occurred_at": "2026-01-05T09:30:00Z",
            "account": "Seen crying at break.", "category_ids": [category_id(session, n) for n in category_names],
            "alert_user_ids": [OTHER_TEACHER]}
    result = domain.record_incident(session, RECORDER, new_record(data))
    return domain._load_incident(session, RECORDER, result["id"])


NOTHING = dict.fromkeys(INCIDENT_PERMISSIONS, False)


def test_may_for_the_recorder(session):
    assert policy.may(RECORDER, alerted_about(session, "Safeguarding")) == {
        **NOTHING, "amend": True, "attach": True, "add_action": True, "see_actions": True, "see_documents": True,
        "see_body_map": True}


def test_may_for_staff_alerted_about_it(session):
    assert policy.may(ALERTED, alerted_about(session, "Safeguarding")) == {
        **NOTHING, "add_action": True, "see_actions": True, "shared": True}


def test_may_for_staff_neither_recording_nor_alerted(session):
    assert policy.may(actor(12), alerted_about(session, "Safeguarding")) == NOTHING


def test_may_for_the_dsl_with_a_second_factor(session):
    assert policy.may(DSL_2FA, alerted_about(session, "Safeguarding")) == {
        **dict.fromkeys(INCIDENT_PERMISSIONS, True), "shared": False}


def test_may_for_the_dsl_without_a_second_factor_is_as_for_other_staff(session):
    assert policy.may(DSL_NO_2FA, alerted_about(session, "Safeguarding")) == NOTHING


@pytest.mark.parametrize("category, reads", [("Parental contact", True), ("Safeguarding", False)])
def test_may_for_slt(session, category, reads):
    # Reading a record whole, they record in it too: they may add an action.
    assert policy.may(SLT_2FA, alerted_about(session, category)) == {
        **NOTHING, "see_actions": reads, "see_follow_up": reads, "see_documents": reads, "see_body_map": reads,
        "add_action": reads}


def test_may_for_slt_alerted_as_a_group(session):
    # Behaviour alerts SLT by default: they may add actions; they read it, it is not safeguarding.
    assert policy.may(SLT_2FA, alerted_about(session, "Behaviour")) == {
        **NOTHING, "add_action": True, "see_actions": True, "see_follow_up": True, "see_documents": True,
        "see_body_map": True}
    # Alerted about a record they may not otherwise read: as shared with them, without its follow-up.
    incident = alerted_about(session, "Safeguarding")
    incident.alerts.append(IncidentAlert(group="slt"))
    assert policy.may(SLT_2FA, incident) == {**NOTHING, "add_action": True, "see_actions": True, "shared": True}


def test_may_in_another_school_is_nothing(session):
    assert policy.may(OTHER_SCHOOL_DSL, alerted_about(session, "Behaviour")) == NOTHING
