"""A pupil's details (who sees what) and family links, against real PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.incidents.roll import pupils
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import PupilLink

from .conftest import DSL_USER, OTHER_SCHOOL, SLT_USER, actor, pupil_id

SUMMARY = {"id", "name", "year_group", "form"}


def dsl(**kwargs):
    return actor(DSL_USER, roles=("dsl",), second_factor=True, **kwargs)


def slt():
    return actor(SLT_USER, roles=("slt",), second_factor=True)


def test_the_dsl_team_and_slt_see_every_detail_and_only_the_dsl_team_the_flags(session):
    dev = pupil_id(session, "Vaughan")  # Dev Vaughan: on a child protection plan in the demo roll
    for who in (dsl(), slt()):
        details = pupils.get_pupil(session, who, dev)
        assert details["name"] == "Dev Vaughan" and details["upn"] == "H801000000003"
        assert details["sex"] == "M" and details["on_roll"] is True
        assert details["date_of_birth"].startswith("2018-") and details["admission_date"] == "2023-09-02"
    details = pupils.get_pupil(session, dsl(), dev)
    assert details["flags"]["cp_plan"] is True and details["flags"]["looked_after"] is False
    assert details["sen_status"] == "none"
    assert not {"flags", "sen_status", "staff_relative_ids"} & set(pupils.get_pupil(session, slt(), dev))


def test_other_staff_see_only_what_the_incident_form_needs(session):
    for who in (actor(), actor(DSL_USER, roles=("dsl",), second_factor=False)):
        details = pupils.get_pupil(session, who, pupil_id(session, "Vaughan"))
        assert set(details) == SUMMARY
        assert details["name"] == "Dev Vaughan"


def test_leavers_and_other_schools_pupils(session):
    leaver = pupil_id(session, "Leaver", on_roll=False)
    with pytest.raises(NotFound):
        pupils.get_pupil(session, actor(), leaver)
    assert pupils.get_pupil(session, dsl(), leaver)["on_roll"] is False
    elsewhere = pupil_id(session, school_id=OTHER_SCHOOL)
    for who in (actor(), dsl()):
        with pytest.raises(NotFound):
            pupils.get_pupil(session, who, elsewhere)
    with pytest.raises(NotFound):
        pupils.get_pupil(session, dsl(), 999_999)


def test_the_demo_siblings_are_linked_both_ways(session):
    chloe = pupil_id(session, "O'Brien")
    assert [s["name"] for s in pupils.list_siblings(session, actor(), chloe)] == ["Leo Nowak"]
    leo = pupil_id(session, "Nowak")
    assert [s["name"] for s in pupils.list_siblings(session, actor(), leo)] == ["Chloe O'Brien"]
    assert set(pupils.list_siblings(session, actor(), leo)[0]) == SUMMARY
    assert pupils.get_pupil(session, dsl(), leo)["siblings"][0]["on_roll"] is True


def links(session) -> int:
    return session.scalar(select(func.count()).select_from(PupilLink))


def test_the_dsl_links_siblings_once_whichever_way_round(session):
    quinn, kiera = pupil_id(session, "Quigley"), pupil_id(session, "Green")
    before = links(session)
    assert [s["name"] for s in pupils.link_siblings(session, dsl(), quinn, kiera)] == ["Kiera Green"]
    assert [s["name"] for s in pupils.list_siblings(session, actor(), kiera)] == ["Quinn Quigley"]
    pupils.link_siblings(session, dsl(), quinn, kiera)
    pupils.link_siblings(session, dsl(), kiera, quinn)
    assert links(session) == before + 2
    assert pupils.unlink_siblings(session, dsl(), kiera, quinn) == []
    assert pupils.list_siblings(session, actor(), quinn) == []
    assert links(session) == before


def test_staff_see_siblings_on_the_roll_and_the_dsl_sees_those_who_left(session):
    quinn, leaver = pupil_id(session, "Quigley"), pupil_id(session, "Leaver", on_roll=False)
    pupils.link_siblings(session, dsl(), quinn, leaver)
    assert pupils.list_siblings(session, actor(), quinn) == []
    assert pupils.list_siblings(session, dsl(), quinn) == [
        {"id": leaver, "name": "Lottie Leaver", "year_group": "Year 6", "form": None, "on_roll": False}]


def test_bad_sibling_links_are_refused(session):
    quinn = pupil_id(session, "Quigley")
    for other, message in ((quinn, "A pupil cannot be their own sibling; choose another pupil."),
                           (pupil_id(session, school_id=OTHER_SCHOOL),
                            "That pupil is not on this school's roll; choose the sibling from the list."),
                           (999_999, "That pupil is not on this school's roll; choose the sibling from the list.")):
        with pytest.raises(ValidationFailed) as caught:
            pupils.link_siblings(session, dsl(), quinn, other)
        assert caught.value.errors == [{"field": "pupil_id", "message": message}]
    with pytest.raises(NotFound):
        pupils.link_siblings(session, dsl(), pupil_id(session, school_id=OTHER_SCHOOL), quinn)


@pytest.mark.parametrize("who", [actor(), slt(), actor(DSL_USER, roles=("dsl",), second_factor=False)],
                         ids=["teacher", "slt", "dsl-without-second-factor"])
def test_only_the_dsl_team_changes_family_links(session, who):
    quinn, kiera = pupil_id(session, "Quigley"), pupil_id(session, "Green")
    for change in (pupils.link_siblings, pupils.unlink_siblings):
        with pytest.raises(Forbidden):
            change(session, who, quinn, kiera)
