"""Who may read or attach to an incident: policy.can_read_incident and domain.check_incident_access."""
from __future__ import annotations

import pytest

from services.incidents.record import incidents as domain
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.policy import can_attach_to_incident, can_read_incident

from .conftest import DSL_USER, OTHER_SCHOOL, OTHER_TEACHER, SLT_USER, TEACHER, actor, category_id, pupil_id

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
    result = domain.record_incident(session, RECORDER, data)
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
    assert can_read_incident(SLT_2FA, recorded(session, "Bullying", "Online safety")) is False


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


@pytest.mark.parametrize("incident_id", ["1", None, 999_999], ids=["string", "none", "unknown"])
def test_check_incident_access_unknown_incident_is_not_found(session, incident_id):
    recorded(session, "Behaviour")
    with pytest.raises(NotFound):
        domain.check_incident_access(session, DSL_2FA, incident_id, "read")


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


def test_check_incident_access_refuses_an_unknown_purpose(session):
    incident = recorded(session, "Behaviour")
    with pytest.raises(ValidationFailed):
        domain.check_incident_access(session, SLT_2FA, incident.id, "destroy")


@pytest.mark.parametrize("name", ["Medical", "SEN"])
def test_slt_cannot_read_medical_or_sen_records(session, name):
    assert can_read_incident(SLT_2FA, recorded(session, name)) is False
    assert can_read_incident(DSL_2FA, recorded(session, name)) is True


def test_an_integration_reads_nothing_even_with_a_colliding_user_id(session):
    from dataclasses import replace
    incident = recorded(session, "Behaviour")
    integration = replace(RECORDER, kind="integration", roles=("integration",))
    assert can_read_incident(integration, incident) is False
    assert can_attach_to_incident(integration, incident) is False
