"""The home page and the navigation offer each role what it may do, and nothing it may not."""
from __future__ import annotations

import re

import pytest

from .conftest import signed_in


@pytest.fixture(scope="module")
def senco(app):
    return signed_in(app, "senco@demo.haven.test", totp_step=1)


def links(page: str) -> set[str]:
    return set(re.findall(r'href="(/[^"#?]*)', page))


@pytest.fixture(autouse=True)
def no_alerts(rpc):
    rpc.answers["alerts.list_alerts"] = []


def test_a_teacher_is_offered_recording_and_no_one_elses_records(teacher):
    page = teacher.get("/").text
    assert "/incidents/new" in links(page) and "/account/security" in links(page)
    assert not {"/pupils", "/cases", "/tray", "/audit", "/admin"} & links(page)


def test_a_governor_is_offered_nothing_to_record_or_read(governor):
    page = governor.get("/").text
    assert not {"/incidents/new", "/pupils", "/cases", "/tray", "/audit", "/admin"} & links(page)
    assert "shows no pupil" in page


def test_an_administrator_alone_is_offered_administration_only(admin):
    page = admin.get("/").text
    assert "/admin" in links(page)
    assert not {"/incidents/new", "/pupils", "/cases", "/tray", "/audit"} & links(page)


def test_a_category_reader_is_offered_the_pupils_they_may_read_about(senco):
    page = senco.get("/").text
    assert {"/incidents/new", "/pupils"} <= links(page)
    assert not {"/cases", "/tray", "/audit", "/admin"} & links(page)


def test_a_concern_about_a_member_of_staff_names_them_from_the_form(teacher, rpc, session):
    from .conftest import staff
    colleague = staff(session, "teacher2@demo.haven.test").id
    rpc.answers["incidents.record_incident"] = {"id": 77, "warnings": []}
    # (The form's field itself is drawn in the browser tests and the accessibility scan.)
    r = teacher.post("/incidents/new", data={"csrf_token": teacher.headers["X-CSRF-Token"], "pupil_id": "3",
                                             "occurred_at": "2026-11-30T09:00", "account": "Shouted at a pupil.",
                                             "category_ids": "1", "about_staff_ids": str(colleague)},
                     follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    sent = next(c for c in rpc.calls if c["key"] == "incidents.record_incident")
    assert sent["kwargs"]["incident"]["about_staff_ids"] == [colleague]


def test_the_form_refuses_those_who_do_not_record(governor, admin):
    for client in (governor, admin):
        assert client.get("/incidents/new", follow_redirects=False).status_code == 403
