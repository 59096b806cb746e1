"""Trusts: one account with roles at several schools of a trust, working in one at a time.

The session's current school decides the roles, job title and groups that reach the signed actor (the
services filter by its school), so a DSL at one school who is a member of staff at another is only that
there. Switching is audited; an ended membership falls back to the home school; an administrator adding
an address of another school of the same trust gives that account a membership, never a new account.
"""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from services.common.db import session_factory
from services.gateway import accounts
from services.gateway.models import AuditEntry, Membership, OutboxEvent, School, StaffGroup, GroupMember
from services.gateway.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID, DEMO_TOTP_SECRET

from .conftest import actor_of, signed_in, staff

BIRCH, ELM, LONE = 2, 3, 4  # Birch is in the demo school's trust; Elm in another; Lone in none


pytestmark = pytest.mark.usefixtures("sent")  # the gateway's mail, caught (conftest.py)


def unique(prefix="person") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@trust.haven.test"


@pytest.fixture(scope="module")
def schools(engine):
    """The demo school and Birch in the Oak trust, Elm in the Elm trust, Lone in none; an administrator
    at Birch (also its DSL) and one at Lone."""
    with session_factory(engine).begin() as s:
        s.get(School, DEMO_SCHOOL_ID).trust = "Oak Trust"
        s.add_all([School(id=BIRCH, name="Birch Academy", trust="Oak Trust"),
                   School(id=ELM, name="Elm School", trust="Elm Trust"), School(id=LONE, name="Lone School")])
        s.flush()
        for school, email in ((BIRCH, "admin@birch.haven.test"), (ELM, "staff@elm.haven.test"),
                              (LONE, "admin@lone.haven.test")):
            accounts.save_staff_member(s, school_id=school, name="Head " + str(school), email=email,
                                       roles=["dsl", "admin"] if school != ELM else ["staff"], password=DEMO_PASSWORD,
                                       totp_secret=DEMO_TOTP_SECRET)
    return {"birch": BIRCH}


@pytest.fixture(scope="module")
def birch_admin(app, schools):
    return signed_in(app, "admin@birch.haven.test", totp_step=0)


def member_of(db, email: str, school_id: int, roles, job_title=None, active=True):
    def run(s):
        user = staff(s, email)
        return accounts.save_membership(s, user, school_id, roles=list(roles), job_title=job_title, active=active).id
    return db(run)


def actor_of_last_call(rpc):
    return actor_of(rpc.calls[-1])


def new_account(db, roles=("staff",), school_id=DEMO_SCHOOL_ID, factor=False, name="Pat Trust") -> str:
    email = unique()
    db(lambda s: accounts.save_staff_member(s, school_id=school_id, name=name, email=email, roles=list(roles),
                                            password=DEMO_PASSWORD, totp_secret=DEMO_TOTP_SECRET if factor else None))
    return email


def audit_entries(engine, action: str, user_id: int) -> list[AuditEntry]:
    with session_factory(engine)() as s:
        return s.scalars(select(AuditEntry).where(AuditEntry.action == action, AuditEntry.user_id == user_id)
                         .order_by(AuditEntry.id)).all()


# --- the session's school ---------------------------------------------------------------------------------

def test_the_session_lists_the_accounts_schools_home_first(app, db, schools):
    email = new_account(db)
    member_of(db, email, BIRCH, ["staff"])
    client = signed_in(app, email)
    assert client.get("/api/v1/session").json()["schools"] == [
        {"id": DEMO_SCHOOL_ID, "name": "Haven Demo Primary", "current": True},
        {"id": BIRCH, "name": "Birch Academy", "current": False}]


def test_a_dsl_at_home_is_only_staff_at_a_school_where_they_are_staff(app, db, rpc, engine, schools):
    email = new_account(db, roles=("dsl",), factor=True)
    member_of(db, email, BIRCH, ["staff"], job_title="Visiting teacher")
    client = signed_in(app, email, totp_step=0)
    rpc.answers["alerts.list_alerts"] = []
    assert client.get("/api/v1/alerts").status_code == 200
    home = actor_of_last_call(rpc)
    assert (home.school_id, home.roles) == (DEMO_SCHOOL_ID, ("dsl",))
    assert client.get("/api/v1/audit").status_code == 200  # the DSL team's audit search, at home

    r = client.post("/api/v1/session/school", json={"school_id": BIRCH})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["roles"] == ["staff"] and r.json()["second_factor_required"] is False
    assert [s["id"] for s in r.json()["schools"] if s["current"]] == [BIRCH]
    assert client.get("/api/v1/alerts").status_code == 200
    there = actor_of_last_call(rpc)
    assert (there.school_id, there.roles, there.job_title) == (BIRCH, ("staff",), "Visiting teacher")
    assert there.second_factor_at is not None  # the same person in the same session: the factor's time is kept
    calls = len(rpc.calls)
    assert client.get("/api/v1/audit").status_code == 403  # not the DSL team here
    assert client.get("/api/v1/cases").status_code == 403
    assert len(rpc.calls) == calls  # refused at the door: no service was asked
    user_id = client.get("/api/v1/session").json()["user"]["id"]
    switched = audit_entries(engine, "switch_school", user_id)
    assert [(e.outcome, e.object_id, e.school_id) for e in switched] == [("ok", str(BIRCH), DEMO_SCHOOL_ID)]
    refused = audit_entries(engine, "search_audit_log", user_id)[-1]
    assert (refused.outcome, refused.school_id) == ("refused:403", BIRCH)

    assert client.post("/api/v1/session/school", json={"school_id": DEMO_SCHOOL_ID}).status_code == 200
    assert client.get("/api/v1/alerts").status_code == 200
    assert actor_of_last_call(rpc).roles == ("dsl",) and actor_of_last_call(rpc).school_id == DEMO_SCHOOL_ID


@pytest.mark.parametrize("target", [ELM, LONE, BIRCH, 999999])
def test_switching_to_a_school_without_a_role_there_is_refused_and_audited(app, db, engine, rpc, schools, target):
    email = new_account(db)
    member_of(db, email, BIRCH, ["staff"], active=False)  # an ended membership is no membership
    client = signed_in(app, email)
    r = client.post("/api/v1/session/school", json={"school_id": target})
    assert r.status_code == 403 and "role at that school" in r.json()["detail"]
    rpc.answers["alerts.list_alerts"] = []
    client.get("/api/v1/alerts")
    assert actor_of_last_call(rpc).school_id == DEMO_SCHOOL_ID
    user_id = client.get("/api/v1/session").json()["user"]["id"]
    assert [(e.outcome, e.object_id) for e in audit_entries(engine, "switch_school", user_id)] == [
        ("refused:403", str(target))]


@pytest.mark.parametrize("body", [{}, {"school_id": 0}, {"school_id": "2"}, {"school_id": 2**70},
                                  {"school_id": 2, "roles": ["dsl"]}, {"school_id": None}])
def test_a_bad_switch_is_a_422(app, db, schools, body):
    client = signed_in(app, new_account(db))
    assert client.post("/api/v1/session/school", json=body).status_code == 422


def test_switching_needs_a_finished_sign_in_and_the_csrf_token(app, db, schools):
    from fastapi.testclient import TestClient
    assert TestClient(app).post("/api/v1/session/school", json={"school_id": BIRCH}).status_code == 401
    email = new_account(db, roles=("dsl",), factor=True)
    member_of(db, email, BIRCH, ["staff"])
    client = TestClient(app)
    r = client.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD})
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    # Owing the second factor at home: no switching round it to a school where the roles need none.
    assert client.post("/api/v1/session/school", json={"school_id": BIRCH}).status_code == 401
    del client.headers["X-CSRF-Token"]
    assert client.post("/api/v1/session/school", json={"school_id": BIRCH}).status_code == 403


def test_an_ended_membership_sends_a_session_working_there_back_home(app, db, rpc, schools):
    email = new_account(db)
    member_of(db, email, BIRCH, ["slt"])
    client = signed_in(app, email)
    r = client.post("/api/v1/session/school", json={"school_id": BIRCH})
    assert r.status_code == 200 and r.json()["enrolment_required"] is True  # SLT there holds a factor
    assert client.get("/api/v1/alerts").status_code == 401
    member_of(db, email, BIRCH, ["slt"], active=False)
    seen = client.get("/api/v1/session").json()
    assert seen["user"]["roles"] == ["staff"] and seen["second_factor_required"] is False
    assert seen["schools"] == [{"id": DEMO_SCHOOL_ID, "name": "Haven Demo Primary", "current": True}]
    rpc.answers["alerts.list_alerts"] = []
    assert client.get("/api/v1/alerts").status_code == 200
    assert actor_of_last_call(rpc).school_id == DEMO_SCHOOL_ID


def test_roles_at_the_new_school_that_need_a_factor_ask_for_it(app, db, rpc, schools):
    """Staff at home (no factor given in this session) and DSL at Birch: the code, not the records."""
    email = new_account(db, factor=True)
    member_of(db, email, BIRCH, ["dsl"])
    client = signed_in(app, email)  # staff at home: signed in without the code
    r = client.post("/api/v1/session/school", json={"school_id": BIRCH})
    assert r.status_code == 200
    assert r.json()["second_factor_required"] is True and r.json()["enrolment_required"] is False
    assert client.get("/api/v1/alerts").status_code == 401
    import time

    import pyotp
    code = pyotp.TOTP(DEMO_TOTP_SECRET).at(int(time.time()))
    assert client.post("/api/v1/session/second-factor", json={"code": code}).status_code == 200
    rpc.answers["alerts.list_alerts"] = []
    assert client.get("/api/v1/alerts").status_code == 200
    assert actor_of_last_call(rpc).roles == ("dsl",) and actor_of_last_call(rpc).school_id == BIRCH


def test_groups_grant_categories_only_at_their_own_school(app, db, rpc, schools):
    email = new_account(db, factor=True)
    member_of(db, email, BIRCH, ["staff"])

    def groups(s):
        user = staff(s, email)
        home = StaffGroup(school_id=DEMO_SCHOOL_ID, name="Medical " + email, category_ids=[4])
        there = StaffGroup(school_id=BIRCH, name="SEN " + email, category_ids=[5], year_groups=["Year 3"])
        s.add_all([home, there])
        s.flush()
        s.add_all([GroupMember(group_id=home.id, user_id=user.id), GroupMember(group_id=there.id, user_id=user.id)])
    db(groups)
    client = signed_in(app, email, totp_step=0)
    rpc.answers["alerts.list_alerts"] = []
    client.get("/api/v1/alerts")
    assert [g.categories for g in actor_of_last_call(rpc).grants] == [(4,)]
    client.post("/api/v1/session/school", json={"school_id": BIRCH})
    client.get("/api/v1/alerts")
    assert [(g.categories, g.year_groups) for g in actor_of_last_call(rpc).grants] == [((5,), ("Year 3",))]


# --- administration: members from the trust ---------------------------------------------------------------

def test_adding_an_address_of_the_trust_gives_a_membership_not_an_account(birch_admin, db, engine, sent):
    email = new_account(db, roles=("dsl",))
    r = birch_admin.post("/api/v1/admin/staff", json={"name": "Ignored", "email": email.upper(),
                                                      "roles": ["slt"], "job_title": "Trust SLT"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["membership"] is True and body["link_sent"] is False and sent == []
    assert body["roles"] == ["slt"] and body["job_title"] == "Trust SLT" and body["home_school_id"] == DEMO_SCHOOL_ID
    with session_factory(engine)() as s:
        user = staff(s, email)
        assert user.school_id == DEMO_SCHOOL_ID and user.roles == ["dsl"] and user.name == "Pat Trust"
        events = [json.loads(e.body) for e in s.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "staff_member_saved").order_by(OutboxEvent.id))]
        events = [e for e in events if e["user_id"] == user.id]
        assert events[-1]["school_id"] == BIRCH and events[-1]["roles"] == ["slt"] and events[-1]["active"]
    listed = {s["id"]: s for s in birch_admin.get("/api/v1/admin/staff").json()}
    assert listed[user.id]["roles"] == ["slt"]
    # Added again: already on the staff here.
    again = birch_admin.post("/api/v1/admin/staff", json={"name": "X", "email": email, "roles": ["staff"]})
    assert again.status_code == 422


@pytest.mark.parametrize("home", [ELM, LONE])
def test_an_address_of_a_school_outside_the_trust_is_refused(birch_admin, db, home):
    email = new_account(db, school_id=home)
    r = birch_admin.post("/api/v1/admin/staff", json={"name": "X", "email": email, "roles": ["staff"]})
    assert r.status_code == 409 and "outside this trust" in r.json()["detail"]


def test_a_school_in_no_trust_takes_no_members(app, db, schools):
    client = signed_in(app, "admin@lone.haven.test", totp_step=0)
    r = client.post("/api/v1/admin/staff", json={"name": "X", "email": new_account(db), "roles": ["staff"]})
    assert r.status_code == 409


def test_editing_a_member_changes_only_this_schools_roles(birch_admin, db, engine):
    email = new_account(db, roles=("staff",))
    user_id = birch_admin.post("/api/v1/admin/staff", json={"name": "X", "email": email,
                                                            "roles": ["staff"]}).json()["id"]
    r = birch_admin.patch(f"/api/v1/admin/staff/{user_id}", json={"roles": ["staff", "dsl"], "name": "Pat Trust"})
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["staff", "dsl"]
    with session_factory(engine)() as s:
        assert staff(s, email).roles == ["staff"]
    r = birch_admin.patch(f"/api/v1/admin/staff/{user_id}", json={"name": "Renamed", "email": unique()})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"name", "email"}
    for path in ("/password-link", "/reset-second-factor"):
        r = birch_admin.post(f"/api/v1/admin/staff/{user_id}{path}")
        assert r.status_code == 409 and "home school" in r.json()["detail"]


def test_deactivating_a_member_ends_only_this_schools_membership_and_sessions(app, birch_admin, db, engine):
    email = new_account(db, roles=("staff",))
    user_id = birch_admin.post("/api/v1/admin/staff", json={"name": "X", "email": email,
                                                            "roles": ["staff"]}).json()["id"]
    at_birch, at_home = signed_in(app, email), signed_in(app, email)
    assert at_birch.post("/api/v1/session/school", json={"school_id": BIRCH}).status_code == 200
    r = birch_admin.post(f"/api/v1/admin/staff/{user_id}/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False
    assert at_birch.get("/api/v1/session").status_code == 401
    assert at_home.get("/api/v1/session").status_code == 200
    with session_factory(engine)() as s:
        assert staff(s, email).active is True
        assert s.scalar(select(Membership.active).where(Membership.user_id == user_id)) is False
    assert user_id in [m["id"] for m in birch_admin.get("/api/v1/admin/staff", params={"status": "inactive"}).json()]
    assert user_id not in [m["id"] for m in birch_admin.get("/api/v1/admin/staff").json()]
    assert at_home.post("/api/v1/session/school", json={"school_id": BIRCH}).status_code == 403
    assert birch_admin.post(f"/api/v1/admin/staff/{user_id}/reactivate").json()["active"] is True
    assert at_home.post("/api/v1/session/school", json={"school_id": BIRCH}).status_code == 200


def test_the_home_schools_administrator_does_not_see_memberships_elsewhere(app, birch_admin, db):
    """The demo school's list shows the account with its home roles, not Birch's."""
    email = new_account(db, roles=("staff",))
    user_id = birch_admin.post("/api/v1/admin/staff", json={"name": "X", "email": email,
                                                            "roles": ["dsl"]}).json()["id"]
    home_admin = signed_in(app, "admin@demo.haven.test", totp_step=0)
    seen = home_admin.get(f"/api/v1/admin/staff/{user_id}").json()
    assert seen["roles"] == ["staff"]
    # Birch's administrator cannot reach an account of the trust that holds no role at Birch.
    stranger_id = signed_in(app, new_account(db)).get("/api/v1/session").json()["user"]["id"]
    assert birch_admin.get(f"/api/v1/admin/staff/{stranger_id}").status_code == 404


# --- the web page ---------------------------------------------------------------------------------------------

def test_the_schools_page_lists_the_schools_and_switches(app, db, rpc, engine, schools):
    email = new_account(db)
    member_of(db, email, BIRCH, ["staff"])
    client = signed_in(app, email)
    page = client.get("/account/schools")
    assert page.status_code == 200
    assert "Haven Demo Primary" in page.text and "Work in Birch Academy" in page.text
    assert "Work in Haven Demo Primary" not in page.text  # the current school has no button
    token = client.headers["X-CSRF-Token"]
    del client.headers["X-CSRF-Token"]  # a web form carries its token in the form
    r = client.post("/account/schools", data={"csrf_token": token, "school_id": str(BIRCH)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Work in Haven Demo Primary" in client.get("/account/schools").text
    for bad in ("", "abc", "0", "9" * 30):
        assert client.post("/account/schools", data={"csrf_token": token, "school_id": bad}).status_code == 422
    r = client.post("/account/schools", data={"csrf_token": token, "school_id": str(ELM)})
    assert r.status_code == 403 and "role at that school" in r.text
    assert client.post("/account/schools", data={"school_id": str(DEMO_SCHOOL_ID)}).status_code == 403  # no token
    user_id = client.get("/api/v1/session").json()["user"]["id"]
    assert [(e.outcome, e.object_id) for e in audit_entries(engine, "switch_school", user_id)] == [
        ("ok", str(BIRCH)), ("refused:403", str(ELM))]


def test_the_nav_offers_the_schools_page_only_to_an_account_with_more_than_one(app, db, rpc, schools):
    rpc.answers["alerts.list_alerts"] = []
    one = signed_in(app, new_account(db))
    page = one.get("/alerts")
    assert page.status_code == 200 and 'href="/account/schools"' not in page.text
    email = new_account(db)
    member_of(db, email, BIRCH, ["staff"])
    two = signed_in(app, email)
    assert 'href="/account/schools"' in two.get("/alerts").text
    member_of(db, email, BIRCH, ["staff"], active=False)
    assert 'href="/account/schools"' not in two.get("/alerts").text


# --- members as the school's staff: the picker, alerting, the DSL team ---------------------------------------

def test_a_member_is_one_of_the_schools_staff_with_that_schools_roles(app, birch_admin, db, engine):
    from services.gateway.usecases.staff import dsl_team_member, staff_names, unknown_staff
    email = new_account(db, roles=("staff",), name="Quinn Trustworthy")
    user_id = birch_admin.post("/api/v1/admin/staff", json={"name": "X", "email": email, "roles": ["dsl"],
                                                            "job_title": "Trust DSL"}).json()["id"]
    picked = {s["id"]: s for s in birch_admin.get("/api/v1/staff", params={"q": "Quinn Trustworthy"}).json()}
    assert picked[user_id]["roles"] == ["dsl"] and picked[user_id]["job_title"] == "Trust DSL"
    home = signed_in(app, "teacher@demo.haven.test")
    assert [s["roles"] for s in home.get("/api/v1/staff", params={"q": "Quinn Trustworthy"}).json()
            if s["id"] == user_id] == [["staff"]]
    with session_factory(engine)() as s:
        assert unknown_staff(s, BIRCH, [user_id]) == [] and unknown_staff(s, ELM, [user_id]) == [user_id]
        assert dsl_team_member(s, BIRCH, user_id) == "Quinn Trustworthy"
        assert dsl_team_member(s, DEMO_SCHOOL_ID, user_id) is None  # staff at home
    birch_admin.post(f"/api/v1/admin/staff/{user_id}/deactivate")
    with session_factory(engine)() as s:
        assert unknown_staff(s, BIRCH, [user_id]) == [user_id] and dsl_team_member(s, BIRCH, user_id) is None
        assert staff_names(s, BIRCH, [user_id]) == {user_id: "Quinn Trustworthy"}  # a name on an old record stays
        assert staff_names(s, ELM, [user_id]) == {}
    assert user_id not in [s["id"] for s in birch_admin.get("/api/v1/staff", params={"q": "Quinn Trustworthy"}).json()]


def test_a_member_may_join_the_schools_groups_and_the_page_says_what_happened(app, birch_admin, db, engine):
    email = new_account(db, roles=("staff",))
    token = birch_admin.headers["X-CSRF-Token"]
    r = birch_admin.post("/admin/staff/new", data={"csrf_token": token, "name": "X", "email": email, "roles": "staff"},
                         follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=joined"), r.text
    user_id = int(r.headers["location"].split("/")[3].split("?")[0])
    page = birch_admin.get(r.headers["location"]).text
    assert "they now hold these roles here too" in page, page[page.find("<main"):page.find("<main") + 1500]

    def group(s):
        g = StaffGroup(school_id=BIRCH, name="Pastoral " + email, category_ids=[4])
        s.add(g)
        s.flush()
        return g.id
    group_id = db(group)
    assert birch_admin.put(f"/api/v1/admin/groups/{group_id}/members/{user_id}").status_code == 200
    # Not an account of this school, nor a member of it: as unknown as an id never used.
    stranger_id = signed_in(app, new_account(db)).get("/api/v1/session").json()["user"]["id"]
    assert birch_admin.put(f"/api/v1/admin/groups/{group_id}/members/{stranger_id}").status_code == 404


def test_a_write_made_at_another_school_is_in_that_schools_audit_log(app, db, engine, schools):
    email = new_account(db)
    member_of(db, email, BIRCH, ["staff"])
    client = signed_in(app, email)
    user_id = client.get("/api/v1/session").json()["user"]["id"]
    client.post("/api/v1/session/school", json={"school_id": BIRCH})
    client.post("/api/v1/cases", json={})  # the DSL team's: refused at the door, written by the middleware
    entry = [e for e in audit_entries(engine, "open_case", user_id)][-1]
    assert (entry.outcome, entry.school_id) == ("refused:403", BIRCH)


def test_a_step_up_and_a_sign_out_at_another_school_are_in_that_schools_log(app, db, engine, schools):
    import time

    import pyotp
    email = new_account(db, factor=True)
    member_of(db, email, BIRCH, ["dsl"])
    client = signed_in(app, email)
    user_id = client.get("/api/v1/session").json()["user"]["id"]
    client.post("/api/v1/session/school", json={"school_id": BIRCH})
    code = pyotp.TOTP(DEMO_TOTP_SECRET).at(int(time.time()))
    assert client.post("/api/v1/session/second-factor", json={"code": code}).status_code == 200
    assert client.delete("/api/v1/session").status_code == 204
    assert [e.school_id for e in audit_entries(engine, "second_factor", user_id)] == [BIRCH]
    assert [e.school_id for e in audit_entries(engine, "sign_out", user_id)] == [BIRCH]


def test_an_administrator_through_a_membership_counts_for_the_last_administrator_rule(session, schools):
    from services.common.errors import Conflict
    from services.gateway.admin import staff as admin_staff
    cedar = 5
    session.add(School(id=cedar, name="Cedar School", trust="Oak Trust"))
    session.flush()
    head = accounts.save_staff_member(session, school_id=cedar, name="Cedar Head", email=unique("cedar"),
                                      roles=["admin"])
    guest = accounts.save_staff_member(session, school_id=DEMO_SCHOOL_ID, name="Trust Admin", email=unique("guest"),
                                       roles=["staff"])
    admin_staff.add_member(session, cedar, ["admin"], name="x", email=guest.email, job_title=None, roles=["admin"])
    # Two administrators (one through a membership): the head may give up the role…
    admin_staff.edit_member(session, cedar, ["admin"], head.id, {"roles": ["staff"]})
    # …and now the member is the last one: not deactivated, not demoted.
    with pytest.raises(Conflict):
        admin_staff.deactivate(session, cedar, head.id, guest.id)
    with pytest.raises(Conflict):
        admin_staff.edit_member(session, cedar, ["admin"], guest.id, {"roles": ["staff"]})
    assert accounts.membership(session, guest.id, cedar).active is True


def test_deactivating_the_account_at_home_ends_it_at_every_school(app, db, engine, schools):
    email = new_account(db)
    member_of(db, email, BIRCH, ["staff"])
    client = signed_in(app, email)
    user_id = client.get("/api/v1/session").json()["user"]["id"]
    client.post("/api/v1/session/school", json={"school_id": BIRCH})
    home_admin = signed_in(app, "admin@demo.haven.test", totp_step=1)
    assert home_admin.post(f"/api/v1/admin/staff/{user_id}/deactivate").status_code == 200
    assert client.get("/api/v1/session").status_code == 401
    with session_factory(engine)() as s:
        events = [json.loads(e.body) for e in s.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "staff_member_saved").order_by(OutboxEvent.id))]
    last = {e["school_id"]: e["active"] for e in events if e["user_id"] == user_id}
    assert last == {DEMO_SCHOOL_ID: False, BIRCH: False}  # the alerts directory hears it for both schools
