"""The session's clock (GET /api/v1/session/activity reads it, POST winds it) and forms kept across a
time-out (web/resume.py): each refusal as a test."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from services.common.db import session_factory, utcnow
from services.gateway.deps import SESSION_COOKIE
from services.gateway.models import LoginSession, SavedSubmission
from services.gateway.usecases.activity import token_hash

from .conftest import signed_in

TEACHER = "teacher@demo.haven.test"
TEACHER2 = "teacher2@demo.haven.test"
ACTIVITY = "/api/v1/session/activity"


@pytest.fixture(autouse=True)
def form_answers(rpc):
    """What the add-incident form asks the services for when it is drawn."""
    rpc.answers.update({"incidents.search_pupils": [], "incidents.list_category_tree": [],
                        "incidents.get_body_map_outline": None,
                        "incidents.get_pupil": {"id": 7, "name": "Amy Smith", "year_group": "Year 4", "form": "4B"}})
    return rpc


def _login_row(engine, client: TestClient) -> LoginSession:
    with session_factory(engine)() as s:
        return s.get(LoginSession, token_hash(client.cookies[SESSION_COOKIE]))


def _idle_for(engine, client: TestClient, minutes: float) -> None:
    """Make the client's session look idle for this long (its last activity moved back)."""
    with session_factory(engine).begin() as s:
        s.execute(update(LoginSession).where(LoginSession.token_hash == token_hash(client.cookies[SESSION_COOKIE]))
                  .values(last_seen_at=utcnow() - timedelta(minutes=minutes)))


def _kept_rows(engine) -> list[SavedSubmission]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(SavedSubmission)))


@pytest.fixture
def clean_saved(engine):
    with session_factory(engine).begin() as s:
        s.query(SavedSubmission).delete()
    yield
    with session_factory(engine).begin() as s:
        s.query(SavedSubmission).delete()


# --- the session's clock ------------------------------------------------------------------------------

def test_asking_the_time_left_does_not_extend_the_session(app, engine):
    client = signed_in(app, TEACHER)
    _idle_for(engine, client, 5)
    before = _login_row(engine, client).last_seen_at
    r = client.get(ACTIVITY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["idle_seconds"] == 30 * 60
    assert 24 * 60 < body["seconds_left"] <= 25 * 60
    assert _login_row(engine, client).last_seen_at == before


def test_keeping_alive_extends_the_session_to_the_second(app, engine):
    client = signed_in(app, TEACHER)
    _idle_for(engine, client, 5)
    r = client.post(ACTIVITY)
    assert r.status_code == 200, r.text
    assert r.json()["seconds_left"] > 29 * 60
    assert utcnow() - _login_row(engine, client).last_seen_at < timedelta(seconds=30)


def test_keeping_alive_needs_the_csrf_token(app, engine):
    client = signed_in(app, TEACHER)
    _idle_for(engine, client, 5)
    before = _login_row(engine, client).last_seen_at
    del client.headers["X-CSRF-Token"]
    assert client.post(ACTIVITY).status_code == 403
    assert client.post(ACTIVITY, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    # The refused POST resolved the session (a request like any other) but did not wind it to the second.
    assert _login_row(engine, client).last_seen_at - before < timedelta(minutes=6)


def test_no_session_has_no_time_left(app, engine):
    anonymous = TestClient(app)
    assert anonymous.get(ACTIVITY).status_code == 401
    assert anonymous.post(ACTIVITY).status_code == 401
    anonymous.cookies.set(SESSION_COOKIE, "made-up")
    assert anonymous.get(ACTIVITY).status_code == 401
    client = signed_in(app, TEACHER)
    _idle_for(engine, client, 31)
    assert client.get(ACTIVITY).status_code == 401
    assert client.post(ACTIVITY).status_code == 401  # a timed-out session cannot be brought back
    signed_out = signed_in(app, TEACHER)
    token = signed_out.cookies[SESSION_COOKIE]
    assert signed_out.delete("/api/v1/session").status_code == 204
    signed_out.cookies.set(SESSION_COOKIE, token)
    assert signed_out.get(ACTIVITY).status_code == 401


# --- forms kept across a time-out ------------------------------------------------------------------------

def _incident_form(csrf: str, account: str) -> dict:
    return {"csrf_token": csrf, "client_token": "tok-abcdefgh12", "pupil_id": "7", "record_type": "disclosure",
            "occurred_at": "2026-03-01T09:30", "location": "Year 4 cloakroom", "account": account,
            "childs_words": "he said \"don't tell\"", "category_ids": ["2", "3"], "alert_groups": "dsl",
            "dsl_informed": "no", "action": "save"}


def _timed_out_teacher(app, engine, email=TEACHER) -> tuple[TestClient, str]:
    client = signed_in(app, email)
    csrf = client.headers.pop("X-CSRF-Token")
    _idle_for(engine, client, 31)
    return client, csrf


def _kept_link(response) -> str:
    assert response.status_code == 303, response.text
    location = unquote(response.headers["location"])
    found = re.fullmatch(r"/sign-in\?next=/resume/([A-Za-z0-9_-]+)", location)
    assert found, location
    return found.group(1)


def test_a_form_sent_after_a_time_out_comes_back_after_signing_in(app, engine, rpc, clean_saved):
    client, csrf = _timed_out_teacher(app, engine)
    account = "Amy said her step-dad hit her with a belt. Tom Archer, class teacher."
    link = _kept_link(client.post("/incidents/new", data=_incident_form(csrf, account), follow_redirects=False))
    assert "incidents.record_incident" not in rpc.keys()  # nothing was recorded for a signed-out session
    [row] = _kept_rows(engine)
    assert row.id == token_hash(link) and link not in row.id
    assert "step-dad" not in row.body and "belt" not in row.body  # encrypted at rest
    assert row.path == "/incidents/new" and row.expires_at - utcnow() <= timedelta(hours=2)

    again = signed_in(app, TEACHER)
    page = again.get(f"/resume/{link}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Your session ended before this was saved. Check it and press Save." in html
    assert "step-dad hit her with a belt" in html
    assert "Year 4 cloakroom" in html and "2026-03-01T09:30" in html and "tok-abcdefgh12" in html
    assert 'value="disclosure" checked' in html
    assert "incidents.record_incident" not in rpc.keys()  # shown, not sent: the teacher presses Save
    assert _kept_rows(engine) == []  # given back once
    assert again.get(f"/resume/{link}").status_code == 404


def test_another_member_of_staff_cannot_open_a_kept_form(app, engine, clean_saved):
    client, csrf = _timed_out_teacher(app, engine)
    link = _kept_link(client.post("/incidents/new", data=_incident_form(csrf, "A secret account."),
                                  follow_redirects=False))
    other = signed_in(app, TEACHER2)
    page = other.get(f"/resume/{link}")
    assert page.status_code == 404 and "secret account" not in page.text
    assert len(_kept_rows(engine)) == 1  # still there for its owner
    assert "secret account" in signed_in(app, TEACHER).get(f"/resume/{link}").text


def test_an_expired_or_unknown_link_shows_nothing(app, engine, clean_saved):
    client, csrf = _timed_out_teacher(app, engine)
    link = _kept_link(client.post("/incidents/new", data=_incident_form(csrf, "An old account."),
                                  follow_redirects=False))
    with session_factory(engine).begin() as s:
        s.execute(update(SavedSubmission).values(expires_at=utcnow() - timedelta(seconds=1)))
    owner = signed_in(app, TEACHER)
    page = owner.get(f"/resume/{link}")
    assert page.status_code == 404 and "old account" not in page.text
    assert _kept_rows(engine) == []
    for made_up in ("x", "A" * 43, "A" * 300, "..%2f..%2fincidents", "%C3%A9"):
        assert owner.get(f"/resume/{made_up}").status_code == 404, made_up


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(app, engine, clean_saved):
    client, csrf = _timed_out_teacher(app, engine)
    link = _kept_link(client.post("/incidents/new", data=_incident_form(csrf, "Account."), follow_redirects=False))
    r = TestClient(app).get(f"/resume/{link}", follow_redirects=False)
    assert r.status_code == 303 and unquote(r.headers["location"]) == f"/sign-in?next=/resume/{link}"
    assert len(_kept_rows(engine)) == 1


@pytest.mark.parametrize("case", ["no_csrf", "wrong_csrf", "no_cookie", "unknown_cookie", "not_a_kept_form",
                                  "json"])
def test_forms_are_kept_only_for_their_own_ended_session(app, engine, clean_saved, case):
    client, csrf = _timed_out_teacher(app, engine)
    form, path = _incident_form(csrf, "Account."), "/incidents/new"
    kwargs = {}
    if case == "no_csrf":
        del form["csrf_token"]
    elif case == "wrong_csrf":
        form["csrf_token"] = "a" * len(csrf)  # e.g. another site's form: it cannot know the token
    elif case == "no_cookie":
        client.cookies.clear()
    elif case == "unknown_cookie":
        client.cookies.set(SESSION_COOKIE, "not-a-session")
    elif case == "not_a_kept_form":
        path = "/alerts/5/read"
    if case == "json":
        kwargs["json"] = form
    else:
        kwargs["data"] = form
    r = client.post(path, follow_redirects=False, **kwargs)
    assert r.status_code == 303 and r.headers["location"] == "/sign-in", r.headers.get("location")
    assert _kept_rows(engine) == []


def test_a_live_session_records_as_before(app, engine, rpc, clean_saved):
    client = signed_in(app, TEACHER)
    rpc.answers["incidents.record_incident"] = lambda kwargs: {"id": 44, "warnings": []}
    r = client.post("/incidents/new", data=_incident_form(client.headers["X-CSRF-Token"], "Account."),
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/incidents/44/recorded"
    assert _kept_rows(engine) == []


def test_a_chosen_file_is_asked_for_again(app, engine, clean_saved):
    client, csrf = _timed_out_teacher(app, engine)
    r = client.post("/incidents/new", data=_incident_form(csrf, "With a file."),
                    files={"file": ("notes.txt", b"private notes", "text/plain")}, follow_redirects=False)
    link = _kept_link(r)
    [row] = _kept_rows(engine)
    assert "private notes" not in row.body
    html = signed_in(app, TEACHER).get(f"/resume/{link}").text
    assert "With a file." in html and "Choose the file again" in html


def test_other_forms_come_back_on_a_page_that_sends_them_again(app, engine, clean_saved):
    client, csrf = _timed_out_teacher(app, engine)
    link = _kept_link(client.post("/incidents/9/amend", data={
        "csrf_token": csrf, "field": "account", "new_value": "The corrected <b>account</b>.",
        "reason": "Wrong day."}, follow_redirects=False))
    again = signed_in(app, TEACHER)
    html = again.get(f"/resume/{link}").text
    assert 'action="/incidents/9/amend"' in html
    assert "The corrected &lt;b&gt;account&lt;/b&gt;." in html and "Wrong day." in html
    assert 'name="field" value="account"' in html
    assert f'name="csrf_token" value="{again.headers["X-CSRF-Token"]}"' in html
    assert csrf not in html  # the ended session's token is not kept
