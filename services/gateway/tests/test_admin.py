"""The administrator's API (routes/admin.py) and the set-password link: who may call each route, what
each change does, and every refusal an attacker would try (other schools' ids, the last administrator,
a used or expired link, a bad staff file)."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.common.db import session_factory
from services.gateway import accounts, mailer
from services.gateway.admin import links, staff_csv
from services.gateway.models import AccountLink, AuditEntry, LoginSession, OutboxEvent, StaffGroup, StaffMember
from services.gateway.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID

from .conftest import signed_in

OTHER_SCHOOL = 77
CATEGORIES = [{"id": 5, "name": "SEN", "parent_id": None, "depth": 0, "colour": "#7d3c98", "active": True},
              {"id": 4, "name": "Medical", "parent_id": None, "depth": 0, "colour": "#1e8449", "active": True}]


pytestmark = pytest.mark.usefixtures("sent")  # the gateway's mail, caught (conftest.py)


def unique(prefix="person") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@demo.haven.test"


def make_staff(db, roles=("staff",), school_id=DEMO_SCHOOL_ID, email=None, password=DEMO_PASSWORD) -> tuple[int, str]:
    email = email or unique()
    user_id = db(lambda s: accounts.save_staff_member(s, school_id=school_id, name="Pat Example", email=email,
                                                      roles=list(roles), password=password).id)
    return user_id, email


def link_in(message) -> str:
    body = message.get_content()
    return next(line.strip() for line in body.splitlines() if "/set-password/" in line)


def token_of(message) -> str:
    return link_in(message).rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def senco(app):
    return signed_in(app, "senco@demo.haven.test", totp_step=0)


# --- who may call the administrator's routes ------------------------------------------------------------

ROUTES = [("GET", "/api/v1/admin/staff", None), ("POST", "/api/v1/admin/staff", {"name": "X", "email": "x@y.org"}),
          ("GET", "/api/v1/admin/staff/1", None), ("PATCH", "/api/v1/admin/staff/1", {"name": "X"}),
          ("POST", "/api/v1/admin/staff/1/deactivate", None), ("POST", "/api/v1/admin/staff/1/reactivate", None),
          ("POST", "/api/v1/admin/staff/1/password-link", None),
          ("POST", "/api/v1/admin/staff/1/reset-second-factor", None),
          ("GET", "/api/v1/admin/groups", None), ("POST", "/api/v1/admin/groups", {"name": "G"}),
          ("PATCH", "/api/v1/admin/groups/1", {"name": "G"}), ("DELETE", "/api/v1/admin/groups/1", None),
          ("PUT", "/api/v1/admin/groups/1/members/1", None), ("DELETE", "/api/v1/admin/groups/1/members/1", None),
          ("POST", "/api/v1/categories", {"name": "C", "sensitivity": "pastoral"}),
          ("PATCH", "/api/v1/categories/1", {"name": "C"}),
          ("GET", "/api/v1/integrations", None), ("POST", "/api/v1/integrations", {"name": "I"}),
          ("DELETE", "/api/v1/integrations/1", None)]
PAGES = ["/admin", "/admin/staff/new", "/admin/staff/import", "/admin/staff/1", "/admin/groups", "/admin/groups/new",
         "/admin/groups/1", "/admin/categories", "/admin/categories/new", "/admin/categories/5", "/admin/integrations"]
PAGE_POSTS = ["/admin/staff/new", "/admin/staff/import", "/admin/staff/1", "/admin/staff/1/deactivate",
              "/admin/groups/new", "/admin/groups/1", "/admin/categories/new", "/admin/categories/5",
              "/admin/integrations", "/admin/integrations/1/revoke"]


@pytest.mark.parametrize("who", ["teacher", "slt", "ddsl", "governor", "senco"])
@pytest.mark.parametrize("method, path, body", ROUTES)
def test_only_an_administrator_may_call_the_admin_routes(request, rpc, who, method, path, body):
    client = request.getfixturevalue(who)
    r = client.request(method, path, json=body)
    assert r.status_code == 403, (who, path, r.text)
    assert rpc.calls == []  # refused before any service is asked


def test_the_import_is_refused_to_anyone_but_an_administrator(teacher, slt, ddsl):
    for client in (teacher, slt, ddsl):
        r = client.post("/api/v1/admin/staff/import", files={"file": ("s.csv", b"Forename,Surname,Email\n")})
        assert r.status_code == 403


@pytest.mark.parametrize("method, path, body", ROUTES + [("POST", "/api/v1/admin/staff/import", None)])
def test_anonymous_callers_are_asked_to_sign_in(app, method, path, body):
    assert TestClient(app).request(method, path, json=body).status_code == 401


@pytest.mark.parametrize("path", PAGES)
def test_the_admin_pages_are_refused_to_others_and_send_strangers_to_sign_in(app, teacher, slt, ddsl, path):
    for client in (teacher, slt, ddsl):
        assert client.get(path).status_code == 403
    r = TestClient(app).get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")


@pytest.mark.parametrize("path", PAGE_POSTS)
def test_the_admin_forms_are_refused_to_others(teacher, slt, ddsl, rpc, path):
    for client in (teacher, slt, ddsl):
        r = client.post(path, data={"csrf_token": client.headers["X-CSRF-Token"], "name": "X"})
        assert r.status_code == 403, (path, r.text[:200])
    assert rpc.calls == []


def test_a_refusal_is_audited(engine, teacher):
    assert teacher.get("/api/v1/admin/staff/3").status_code == 403
    with session_factory(engine)() as s:
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(5)).all()
        refused = [e for e in entry if e.action == "admin_staff" and e.outcome == "refused:403"]
        assert refused and refused[0].object_id == "3"


def test_an_administrator_who_owes_the_second_factor_is_refused(app, db):
    _, email = make_staff(db, roles=("admin",))
    client = TestClient(app)
    r = client.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200 and r.json()["second_factor_required"]
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    assert client.get("/api/v1/admin/staff").status_code == 401


# --- staff ---------------------------------------------------------------------------------------------

def test_an_administrator_lists_and_searches_the_schools_staff_only(admin, db):
    make_staff(db, school_id=OTHER_SCHOOL, email=unique("elsewhere"))
    listed = admin.get("/api/v1/admin/staff").json()
    assert {s["email"] for s in listed} >= {"dsl@demo.haven.test", "teacher@demo.haven.test"}
    assert not any("elsewhere" in s["email"] for s in listed)
    assert all("password_hash" not in s and "totp_secret" not in s for s in listed)
    found = admin.get("/api/v1/admin/staff", params={"q": "archer"}).json()
    assert [s["name"] for s in found] == ["Tom Archer"]
    assert admin.get("/api/v1/admin/staff", params={"status": "nobody"}).status_code == 422


def test_adding_a_member_of_staff_sends_a_single_use_link(admin, engine, sent):
    email = unique("new")
    r = admin.post("/api/v1/admin/staff", json={"name": "Nia Jones", "email": email.upper(),
                                               "job_title": "Teacher", "roles": ["staff", "slt"]})
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["email"] == email and added["roles"] == ["staff", "slt"] and added["link_sent"] is True
    assert len(sent) == 1 and sent[0]["To"] == email
    body = sent[0].get_content()
    assert "Nia Jones" in body and "/set-password/" in body and "72 hours" in body
    token = token_of(sent[0])
    with session_factory(engine)() as s:
        stored = s.scalar(select(AccountLink).where(AccountLink.user_id == added["id"]))
        assert stored.token_hash != token and token not in stored.token_hash  # only its hash
        assert timedelta(hours=71) < stored.expires_at - stored.created_at <= timedelta(hours=72)
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "staff_member_saved")
                          .order_by(OutboxEvent.id.desc())).first()
        assert email in event.body
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "add_staff")
                          .order_by(AuditEntry.id.desc())).first()
        assert entry.object_id == str(added["id"]) and "roles=staff,slt" in entry.detail
        assert token not in (entry.detail or "")


@pytest.mark.parametrize("body, field", [
    ({"name": "", "email": "a@b.org"}, "name"), ({"name": "A", "email": "not an address"}, "email"),
    ({"name": "A", "email": "a@b.org", "roles": ["headteacher"]}, "roles"),
    ({"name": "A", "email": "a@b.org", "roles": []}, "roles"),
    ({"name": "A", "email": "a@b.org", "roles": ["trust_admin"]}, "roles"),
    ({"name": "A", "email": "a@b.org", "group_ids": [2**40]}, "group_ids"),
    ({"name": "A", "email": "a@b.org", "is_admin": True}, "is_admin"),
    ({"name": "A", "email": "dsl@demo.haven.test"}, "email"),
])
def test_adding_staff_checks_every_field(admin, body, field, sent):
    r = admin.post("/api/v1/admin/staff", json=body)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}
    assert sent == []


def test_an_unpaired_surrogate_is_a_422(admin):
    r = admin.post("/api/v1/admin/staff", content=b'{"name": "A\\ud800", "email": "a@b.org"}',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_an_unknown_or_other_schools_group_cannot_be_given(admin, db):
    group_id = db(lambda s: _group(s, OTHER_SCHOOL, "Elsewhere SENCO " + uuid.uuid4().hex[:6]))
    r = admin.post("/api/v1/admin/staff", json={"name": "A", "email": unique(), "group_ids": [group_id]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "group_ids"


def _group(s, school_id, name, categories=(5,)):
    group = StaffGroup(school_id=school_id, name=name, category_ids=list(categories), year_groups=None)
    s.add(group)
    s.flush()
    return group.id


def test_another_schools_member_of_staff_is_not_found(admin, db):
    other_id, _ = make_staff(db, school_id=OTHER_SCHOOL)
    for method, path, body in [("GET", "", None), ("PATCH", "", {"name": "Mine now"}), ("POST", "/deactivate", None),
                               ("POST", "/reactivate", None), ("POST", "/password-link", None),
                               ("POST", "/reset-second-factor", None)]:
        r = admin.request(method, f"/api/v1/admin/staff/{other_id}{path}", json=body)
        assert r.status_code == 404, (path, r.text)
    assert admin.get("/api/v1/admin/staff/999999").status_code == 404
    assert admin.get(f"/api/v1/admin/staff/{2**40}").status_code == 422
    assert admin.get("/api/v1/admin/staff/abc").status_code == 422


def test_editing_changes_only_what_is_sent_and_audits_which_fields(admin, db, engine):
    user_id, email = make_staff(db)
    r = admin.patch(f"/api/v1/admin/staff/{user_id}", json={"job_title": "Head of Year 5", "roles": ["staff", "dsl"]})
    assert r.status_code == 200, r.text
    assert r.json()["job_title"] == "Head of Year 5" and r.json()["roles"] == ["staff", "dsl"]
    assert r.json()["name"] == "Pat Example" and r.json()["email"] == email
    new_email = unique("moved")
    assert admin.patch(f"/api/v1/admin/staff/{user_id}", json={"email": new_email}).json()["email"] == new_email
    with session_factory(engine)() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "edit_staff",
                                                     AuditEntry.object_id == str(user_id)).order_by(AuditEntry.id)).all()
        assert [e.detail for e in entries] == ["changed=job_title,roles roles=staff,dsl", "changed=email"]
    assert admin.patch(f"/api/v1/admin/staff/{user_id}", json={"email": "teacher@demo.haven.test"}).status_code == 422
    assert admin.patch(f"/api/v1/admin/staff/{user_id}", json={"roles": ["trust_admin"]}).status_code == 422


def test_deactivating_ends_every_session_at_once_and_reactivating_lets_them_back(app, admin, db, engine):
    user_id, email = make_staff(db)
    victim, second = signed_in(app, email), signed_in(app, email)
    assert victim.get("/api/v1/session").status_code == 200
    r = admin.post(f"/api/v1/admin/staff/{user_id}/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["deactivated_at"]
    assert victim.get("/api/v1/session").status_code == 401
    assert second.get("/api/v1/alerts").status_code == 401
    with session_factory(engine)() as s:
        assert s.scalars(select(LoginSession).where(LoginSession.user_id == user_id,
                                                    LoginSession.ended_at.is_(None))).all() == []
    listed = admin.get("/api/v1/admin/staff", params={"status": "inactive"}).json()
    assert user_id in [s["id"] for s in listed]
    assert TestClient(app).post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD}).status_code == 401
    assert admin.post(f"/api/v1/admin/staff/{user_id}/reactivate").json()["active"] is True
    assert signed_in(app, email).get("/api/v1/session").status_code == 200


def test_an_administrator_cannot_deactivate_themselves(admin):
    me = admin.get("/api/v1/session").json()["user"]["id"]
    r = admin.post(f"/api/v1/admin/staff/{me}/deactivate")
    assert r.status_code == 409 and "own account" in r.json()["detail"]


def test_the_last_administrator_is_never_removed(app, admin, db):
    """In a school of its own: one administrator, who cannot lose the role or be deactivated."""
    school = 9100 + uuid.uuid4().int % 800
    lone_id, _ = make_staff(db, roles=("admin",), school_id=school)
    other_id, other_email = make_staff(db, roles=("admin",), school_id=school)
    db(lambda s: accounts.save_staff_member(s, school_id=school, name="Other", email=other_email, roles=["admin"],
                                            totp_secret="HAVENDEMOHAVENDEMOHAVENDEMOHAVEN"))
    client = signed_in(app, other_email, totp_step=0)
    # Two administrators: one may take the other's role away…
    assert client.patch(f"/api/v1/admin/staff/{lone_id}", json={"roles": ["staff"]}).status_code == 200
    # …but not their own now that they are the last one.
    r = client.patch(f"/api/v1/admin/staff/{other_id}", json={"roles": ["staff"]})
    assert r.status_code == 409 and "only active administrator" in r.json()["detail"]
    # A deactivated administrator does not count.
    assert client.patch(f"/api/v1/admin/staff/{lone_id}", json={"roles": ["admin"]}).status_code == 200
    assert client.post(f"/api/v1/admin/staff/{lone_id}/deactivate").status_code == 200
    assert client.patch(f"/api/v1/admin/staff/{other_id}", json={"roles": ["staff"]}).status_code == 409


def test_a_new_link_replaces_the_old_one(admin, db, sent, app):
    user_id, email = make_staff(db)
    assert admin.post(f"/api/v1/admin/staff/{user_id}/password-link").json()["link_sent"] is True
    assert admin.post(f"/api/v1/admin/staff/{user_id}/password-link").json()["link_sent"] is True
    first, second = token_of(sent[0]), token_of(sent[1])
    anyone = TestClient(app)
    assert anyone.post("/api/v1/account/set-password", json={"token": first, "password": "a long enough phrase"}
                       ).status_code == 410
    assert anyone.post("/api/v1/account/set-password", json={"token": second, "password": "a long enough phrase"}
                       ).status_code == 204


def test_no_link_for_a_deactivated_account(admin, db):
    user_id, _ = make_staff(db)
    db(lambda s: setattr(s.get(StaffMember, user_id), "active", False))
    assert admin.post(f"/api/v1/admin/staff/{user_id}/password-link").status_code == 422


def test_a_mail_relay_that_fails_is_reported_not_a_500(admin, db, monkeypatch):
    def refuse(cfg, message):
        raise ConnectionRefusedError()
    monkeypatch.setattr(mailer, "send", refuse)
    user_id, _ = make_staff(db)
    r = admin.post(f"/api/v1/admin/staff/{user_id}/password-link")
    assert r.status_code == 200 and r.json()["link_sent"] is False


def test_resetting_the_second_factor_clears_it_and_ends_their_sessions(app, admin, db, engine):
    user_id, email = make_staff(db)
    db(lambda s: _with_factor(s, user_id))
    client = signed_in(app, email)
    r = admin.post(f"/api/v1/admin/staff/{user_id}/reset-second-factor")
    assert r.status_code == 200 and r.json()["second_factor"] is False and r.json()["factor_locked"] is False
    assert client.get("/api/v1/session").status_code == 401
    with session_factory(engine)() as s:
        user = s.get(StaffMember, user_id)
        assert user.totp_secret is None and user.factor_failures == 0 and not user.factor_locked
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "factor_reset")
                          .order_by(AuditEntry.id.desc())).first()
        assert entry.object_id == str(user_id) and entry.outcome == "ok"


def _with_factor(s, user_id):
    user = s.get(StaffMember, user_id)
    user.totp_secret, user.factor_failures, user.factor_locked = "JBSWY3DPEHPK3PXP", 10, True


# --- the set-password link ---------------------------------------------------------------------------

def _link(db, user_id, hours=72) -> str:
    return db(lambda s: links.new_link(s, s.get(StaffMember, user_id), None, hours=hours))


def test_a_link_sets_the_password_once_and_ends_every_session(app, db, engine):
    user_id, email = make_staff(db)
    old = signed_in(app, email)
    token = _link(db, user_id)
    anyone = TestClient(app)
    r = anyone.post("/api/v1/account/set-password", json={"token": token, "password": "correct horse battery"})
    assert r.status_code == 204, r.text
    assert old.get("/api/v1/session").status_code == 401
    assert anyone.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD}).status_code == 401
    assert anyone.post("/api/v1/session", json={"email": email, "password": "correct horse battery"}).status_code == 200
    again = TestClient(app).post("/api/v1/account/set-password", json={"token": token, "password": "another long one"})
    assert again.status_code == 410
    with session_factory(engine)() as s:
        actions = [(e.action, e.outcome) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "set_password").order_by(AuditEntry.id.desc()).limit(2))]
        assert actions == [("set_password", "refused:410"), ("set_password", "ok")]


def test_an_expired_link_is_gone_and_an_unknown_one_not_found(app, db):
    user_id, _ = make_staff(db)
    expired = _link(db, user_id, hours=0)
    anyone = TestClient(app)
    assert anyone.post("/api/v1/account/set-password", json={"token": expired, "password": "x" * 8 + "long enough"}
                       ).status_code == 410
    for token in ("A" * 43, "short", "../../etc", "x" * 150):
        r = anyone.post("/api/v1/account/set-password", json={"token": token, "password": "a long enough phrase"})
        assert r.status_code == 404, token
        assert "account" not in r.json()["detail"].lower()
    assert anyone.post("/api/v1/account/set-password", json={"token": "x"}).status_code == 422


@pytest.mark.parametrize("password", ["short", "password1234", "Password!2024", "aaaaaaaaaaaaaa", "123456789012345",
                                      "qwertyuiop12"])
def test_weak_passwords_are_refused_and_the_link_still_works(app, db, password):
    user_id, _ = make_staff(db)
    token = _link(db, user_id)
    anyone = TestClient(app)
    r = anyone.post("/api/v1/account/set-password", json={"token": token, "password": password})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    assert anyone.post("/api/v1/account/set-password", json={"token": token, "password": "three unrelated words"}
                       ).status_code == 204


def test_the_password_cannot_be_the_email_address(app, db):
    user_id, email = make_staff(db, email=unique("longname"))
    token = _link(db, user_id)
    r = TestClient(app).post("/api/v1/account/set-password", json={"token": token, "password": email})
    assert r.status_code == 422 and "e-mail" in r.json()["errors"][0]["message"]


def test_a_set_password_sent_by_another_site_is_refused(app, db):
    user_id, _ = make_staff(db)
    token = _link(db, user_id)
    body = {"token": token, "password": "three unrelated words"}
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        assert TestClient(app).post("/api/v1/account/set-password", json=body, headers=headers).status_code == 403
        assert TestClient(app).post(f"/set-password/{token}", data={"password": body["password"], "confirm": body[
            "password"]}, headers=headers).status_code == 403
    assert TestClient(app).post("/api/v1/account/set-password", json=body).status_code == 204


def test_the_set_password_page(app, db):
    user_id, _ = make_staff(db)
    token = _link(db, user_id)
    client = TestClient(app)
    page = client.get(f"/set-password/{token}")
    assert page.status_code == 200 and "Pat Example" in page.text and page.headers["cache-control"] == "no-store"
    mismatch = client.post(f"/set-password/{token}", data={"password": "three unrelated words", "confirm": "other"})
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    done = client.post(f"/set-password/{token}", data={"password": "three unrelated words",
                                                      "confirm": "three unrelated words"})
    assert done.status_code == 200 and "Your password has been set" in done.text
    assert client.get(f"/set-password/{token}").status_code == 410
    assert client.get("/set-password/" + "B" * 43).status_code == 404


# --- the staff import --------------------------------------------------------------------------------------

def _import(client, content: bytes, dry_run=True, name="staff.csv"):
    return client.post("/api/v1/admin/staff/import", files={"file": (name, content, "text/csv")},
                       data={"dry_run": "true" if dry_run else "false"})


def test_a_preview_says_who_is_new_who_changes_and_which_lines_are_wrong(admin, sent):
    new_email = unique("csv")
    content = ("\ufeffTitle,Forename,Surname,E-mail Address,Job Title\r\n"
               f"Ms,Ada,Lovelace,{new_email},Computing\r\n"
               "Mr,Tom,Archer,TEACHER@demo.haven.test,Head of Year 4\r\n"
               "Mrs,Tess,Morgan,teacher2@demo.haven.test,\"Class Teacher, Year 2\"\r\n"
               "Mr,No,Address,,Teacher\r\n"
               f"Ms,Ada,Again,{new_email},Computing\r\n").encode("utf-8")
    r = _import(admin, content)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["dry_run"] is True
    assert [(p["line"], p["name"]) for p in report["new"]] == [(2, "Ada Lovelace")]
    assert [(p["line"], p["fields"]) for p in report["changed"]] == [(3, ["job_title"])]
    assert report["unchanged"] == 1
    assert [e["line"] for e in report["errors"]] == [5, 6]
    assert "no e-mail" in report["errors"][0]["message"] and "line 2" in report["errors"][1]["message"]
    # A file with errors is never applied.
    assert _import(admin, content, dry_run=False).status_code == 422
    assert sent == []


def test_an_import_adds_new_staff_with_links_and_is_safe_to_repeat(admin, engine, sent):
    emails = [unique("imp"), unique("imp")]
    content = ("first name,LAST NAME,email,role\n"
               f"Grace,Hopper,{emails[0]},Teacher\nAlan,Turing,{emails[1]},\n").encode()
    r = _import(admin, content, dry_run=False)
    assert r.status_code == 200, r.text
    assert len(r.json()["new"]) == 2 and r.json()["links_sent"] == 2
    assert sorted(m["To"] for m in sent) == sorted(emails)
    with session_factory(engine)() as s:
        users = s.scalars(select(StaffMember).where(StaffMember.email.in_(emails))).all()
        assert {u.name for u in users} == {"Grace Hopper", "Alan Turing"}
        assert all(u.roles == ["staff"] and u.school_id == DEMO_SCHOOL_ID for u in users)
    again = _import(admin, content, dry_run=False).json()
    assert again["new"] == [] and again["unchanged"] == 2


def test_another_schools_address_is_a_line_error(admin, db):
    _, email = make_staff(db, school_id=OTHER_SCHOOL)
    report = _import(admin, f"Forename,Surname,Email\nA,B,{email}\n".encode()).json()
    assert report["new"] == [] and report["errors"][0]["line"] == 2


@pytest.mark.parametrize("content, words", [
    (b"", "empty"), (b"Forename,Surname\nA,B\n", "Email"), (b"Email\na@b.org\n", "Forename and Surname"),
    ("Forename,Surname,Email\nZo\xeb,B,z@b.org\n".encode("latin-1"), "UTF-8"),
    (b"PK\x03\x04rest-of-a-spreadsheet", "not a CSV"), (b"a\x00b", "not a CSV"),
    (b"Forename,Surname,Email\n" + b"A,B,a@b.org\n" * (staff_csv.MAX_FILE_BYTES // 12 + 1), "too large"),
])
def test_a_bad_file_gets_a_clear_422(admin, content, words):
    r = _import(admin, content)
    assert r.status_code == 422, r.text
    assert words in r.json()["errors"][0]["message"]


def test_the_import_needs_a_file(admin):
    assert admin.post("/api/v1/admin/staff/import", data={"dry_run": "true"}).status_code == 422


# --- groups ----------------------------------------------------------------------------------------------

def test_groups_are_made_with_the_schools_categories_and_grant_them_at_once(app, admin, rpc, db, engine):
    rpc.answers["incidents.list_category_tree"] = CATEGORIES
    name = "Pastoral " + uuid.uuid4().hex[:6]
    r = admin.post("/api/v1/admin/groups", json={"name": name, "category_ids": [4], "year_groups": ["Year 4", "Year 4"]})
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["category_ids"] == [4] and group["year_groups"] == ["Year 4"] and group["member_ids"] == []
    user_id, email = make_staff(db)
    r = admin.put(f"/api/v1/admin/groups/{group['id']}/members/{user_id}")
    assert r.status_code == 200 and r.json()["member_ids"] == [user_id]
    with session_factory(engine)() as s:
        grants = accounts.grants_of(s, s.get(StaffMember, user_id))
        assert [(g.categories, g.year_groups) for g in grants] == [((4,), ("Year 4",))]
    assert admin.delete(f"/api/v1/admin/groups/{group['id']}").json()["active"] is False
    with session_factory(engine)() as s:
        assert accounts.grants_of(s, s.get(StaffMember, user_id)) == ()
    r = admin.delete(f"/api/v1/admin/groups/{group['id']}/members/{user_id}")
    assert r.status_code == 200 and r.json()["member_ids"] == []


@pytest.mark.parametrize("body, field", [
    ({"name": "", "category_ids": [5]}, "name"), ({"name": "G", "category_ids": [99]}, "category_ids"),
    ({"name": "G", "category_ids": ["five"]}, "category_ids"), ({"name": "G", "year_groups": [""]}, "year_groups"),
    ({"name": "SENCO", "category_ids": [5]}, "name"),
])
def test_a_group_is_checked(admin, rpc, body, field):
    rpc.answers["incidents.list_category_tree"] = CATEGORIES
    r = admin.post("/api/v1/admin/groups", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_another_schools_group_is_not_found(admin, db):
    group_id = db(lambda s: _group(s, OTHER_SCHOOL, "Theirs " + uuid.uuid4().hex[:6]))
    user_id, _ = make_staff(db)
    assert admin.patch(f"/api/v1/admin/groups/{group_id}", json={"name": "Ours"}).status_code == 404
    assert admin.delete(f"/api/v1/admin/groups/{group_id}").status_code == 404
    assert admin.put(f"/api/v1/admin/groups/{group_id}/members/{user_id}").status_code == 404
    assert group_id not in [g["id"] for g in admin.get("/api/v1/admin/groups").json()]


def test_another_schools_member_cannot_join_a_group(admin, db):
    group_id = admin.get("/api/v1/admin/groups").json()[0]["id"]
    other_id, _ = make_staff(db, school_id=OTHER_SCHOOL)
    assert admin.put(f"/api/v1/admin/groups/{group_id}/members/{other_id}").status_code == 404


def test_the_demo_senco_group_matches_the_incidents_seed():
    from services.gateway.seed import DEMO_GROUPS, DEMO_SEN_CATEGORY_ID
    from services.incidents.seed import CATEGORIES as INCIDENT_CATEGORIES
    assert INCIDENT_CATEGORIES[DEMO_SEN_CATEGORY_ID - 1][0] == "SEN"
    assert DEMO_GROUPS[0][1] == [DEMO_SEN_CATEGORY_ID]


# --- the administrator's pages show no pupil and no record -------------------------------------------------

def test_the_admin_pages_work_for_an_administrator_and_ask_no_service_for_records(admin, rpc, db):
    rpc.answers["incidents.list_category_tree"] = CATEGORIES
    user_id, _ = make_staff(db)
    for path in ["/admin", "/admin?status=all&q=tom", "/admin/staff/new", "/admin/staff/import", f"/admin/staff/{user_id}",
                 "/admin/groups", "/admin/groups/new"]:
        r = admin.get(path)
        assert r.status_code == 200, (path, r.text[:300])
    assert set(rpc.keys()) <= {"incidents.list_category_tree"}


def test_adding_staff_through_the_page(admin, sent):
    csrf = admin.headers["X-CSRF-Token"]
    email = unique("page")
    r = admin.post("/admin/staff/new", data={"csrf_token": csrf, "name": "Page Person", "email": email,
                                             "roles": "staff"}, follow_redirects=False)
    assert r.status_code == 303 and "done=added" in r.headers["location"]
    assert sent[0]["To"] == email
    bad = admin.post("/admin/staff/new", data={"csrf_token": csrf, "name": "", "email": "nope"})
    assert bad.status_code == 422 and "There is a problem" in bad.text


def test_a_page_form_without_the_csrf_token_is_refused(admin):
    bare = TestClient(admin.app, cookies=admin.cookies)
    r = bare.post("/admin/staff/new", data={"name": "X", "email": unique()}, follow_redirects=False)
    assert r.status_code == 403


def test_categories_are_managed_through_the_pages(admin, rpc):
    rpc.answers["incidents.list_category_tree"] = CATEGORIES
    rpc.answers["incidents.create_category"] = lambda kwargs: {**kwargs["category"], "id": 11, "depth": 0}
    rpc.answers["incidents.update_category"] = lambda kwargs: {**CATEGORIES[0], **kwargs["changes"]}
    csrf = admin.headers["X-CSRF-Token"]
    page = admin.get("/admin/categories")
    assert page.status_code == 200 and "SEN" in page.text and "Medical" in page.text
    r = admin.post("/admin/categories/new", data={"csrf_token": csrf, "name": "First aid", "sensitivity": "medical",
                                                  "colour": "#1e8449", "default_alert_groups": "slt"},
                   follow_redirects=False)
    assert r.status_code == 303, r.text
    sent = [c for c in rpc.calls if c["key"] == "incidents.create_category"][0]["kwargs"]["category"]
    assert sent["name"] == "First aid" and sent["default_alert_groups"] == ["slt"]
    bad = admin.post("/admin/categories/new", data={"csrf_token": csrf, "name": "X", "sensitivity": "medical",
                                                    "colour": "purple"})
    assert bad.status_code == 422 and "There is a problem" in bad.text
    r = admin.post("/admin/categories/5", data={"csrf_token": csrf, "name": "SEN", "sensitivity": "safeguarding",
                                                "colour": "#7d3c98", "active": "true"}, follow_redirects=False)
    assert r.status_code == 303
    changes = [c for c in rpc.calls if c["key"] == "incidents.update_category"][0]["kwargs"]["changes"]
    assert changes == {"sensitivity": "safeguarding"}
    assert admin.get("/admin/categories/999").status_code == 404


def test_integrations_are_managed_through_the_pages(admin):
    csrf = admin.headers["X-CSRF-Token"]
    name = "Monitor " + uuid.uuid4().hex[:6]
    r = admin.post("/admin/integrations", data={"csrf_token": csrf, "name": name})
    assert r.status_code == 200 and "shown this once" in r.text
    key = r.text.split('<code id="api-key">')[1].split("<")[0]
    assert key.startswith("hvn_")
    listed = admin.get("/admin/integrations")
    assert name in listed.text and key not in listed.text
    made = [i for i in admin.get("/api/v1/integrations").json() if i["name"] == name][0]
    r = admin.post(f"/admin/integrations/{made['id']}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert [i for i in admin.get("/api/v1/integrations").json() if i["name"] == name][0]["active"] is False
    assert admin.post("/admin/integrations", data={"csrf_token": csrf, "name": ""}).status_code == 422


def test_groups_are_managed_through_the_pages(admin, rpc, db):
    rpc.answers["incidents.list_category_tree"] = CATEGORIES
    csrf = admin.headers["X-CSRF-Token"]
    name = "First aid " + uuid.uuid4().hex[:6]
    r = admin.post("/admin/groups/new", data={"csrf_token": csrf, "name": name, "category_ids": "4",
                                              "year_groups": "Year 1, Year 2"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    group_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    user_id, _ = make_staff(db)
    r = admin.post(f"/admin/groups/{group_id}", data={"csrf_token": csrf, "action": "add_member",
                                                      "user_id": str(user_id)}, follow_redirects=False)
    assert r.status_code == 303
    page = admin.get(f"/admin/groups/{group_id}")
    assert "Pat Example" in page.text and "Year 1, Year 2" in page.text
    r = admin.post(f"/admin/groups/{group_id}", data={"csrf_token": csrf, "action": "deactivate"},
                   follow_redirects=False)
    assert r.status_code == 303
    assert [g for g in admin.get("/api/v1/admin/groups").json() if g["id"] == group_id][0]["active"] is False
    assert admin.post(f"/admin/groups/{group_id}", data={"csrf_token": csrf, "action": "explode"}).status_code == 404
    bad = admin.post("/admin/groups/new", data={"csrf_token": csrf, "name": "", "category_ids": "4"})
    assert bad.status_code == 422


def test_staff_are_imported_through_the_page(admin, sent):
    csrf = admin.headers["X-CSRF-Token"]
    address = unique("pageimp")
    content = f"Forename,Surname,Email\nKit,Marlowe,{address}\n".encode()
    preview = admin.post("/admin/staff/import", data={"csrf_token": csrf, "action": "preview"},
                         files={"file": ("staff.csv", content, "text/csv")})
    assert preview.status_code == 200 and "Kit Marlowe" in preview.text and "Nothing has been changed" in preview.text
    assert sent == []
    done = admin.post("/admin/staff/import", data={"csrf_token": csrf, "action": "import"},
                      files={"file": ("staff.csv", content, "text/csv")})
    assert done.status_code == 200 and "has been imported" in done.text and sent[0]["To"] == address
    bad = admin.post("/admin/staff/import", data={"csrf_token": csrf, "action": "preview"},
                     files={"file": ("staff.csv", b"Name\nX\n", "text/csv")})
    assert bad.status_code == 422 and "no column" in bad.text


def test_the_account_buttons_on_the_staff_page(admin, db, sent):
    csrf = admin.headers["X-CSRF-Token"]
    user_id, _ = make_staff(db)
    for act, done in [("password-link", "done=link"), ("reset-second-factor", "done=factor"),
                      ("deactivate", "done=deactivated"), ("reactivate", "done=reactivated")]:
        r = admin.post(f"/admin/staff/{user_id}/{act}", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and done in r.headers["location"], act
    assert admin.post(f"/admin/staff/{user_id}/promote", data={"csrf_token": csrf}).status_code == 404
    me = admin.get("/api/v1/session").json()["user"]["id"]
    refused = admin.post(f"/admin/staff/{me}/deactivate", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "own account" in refused.text


# --- schools of a trust --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trust_admin(app, engine):
    address = f"trust-{uuid.uuid4().hex[:8]}@demo.haven.test"
    with session_factory(engine).begin() as s:
        accounts.save_staff_member(s, school_id=DEMO_SCHOOL_ID, name="Tara Trust", email=address,
                                   roles=["trust_admin"], password=DEMO_PASSWORD,
                                   totp_secret="HAVENDEMOHAVENDEMOHAVENDEMOHAVEN")
    return signed_in(app, address, totp_step=0)


def _school(**extra):
    return {"name": "Birch Primary", "urn": str(100000 + uuid.uuid4().int % 899999), "local_authority": "Leeds",
            "admin_name": "Bea Head", "admin_email": unique("birch"), **extra}


def test_a_trust_administrator_adds_a_school_with_its_first_administrator(trust_admin, engine, sent):
    body = _school()
    r = trust_admin.post("/api/v1/admin/schools", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["urn"] == body["urn"] and made["trust"] == "Haven Demo Primary" and made["link_sent"] is True
    assert made["id"] > DEMO_SCHOOL_ID and sent[0]["To"] == body["admin_email"]
    with session_factory(engine)() as s:
        head = s.get(StaffMember, made["admin_user_id"])
        assert head.school_id == made["id"] and head.roles == ["dsl", "admin"]
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "school_saved")
                          .order_by(OutboxEvent.id.desc())).first()
        assert f'"school_id": {made["id"]}' in event.body and "Birch Primary" in event.body
    listed = trust_admin.get("/api/v1/admin/schools").json()
    assert {DEMO_SCHOOL_ID, made["id"]} <= {s["id"] for s in listed}
    again = trust_admin.post("/api/v1/admin/schools", json={**_school(), "urn": body["urn"]})
    assert again.status_code == 409 and "already on this Haven" in again.json()["detail"]


@pytest.mark.parametrize("extra, field", [({"urn": "12345"}, "urn"), ({"urn": "12345678"}, "urn"),
                                          ({"local_authority": " "}, "local_authority"),
                                          ({"admin_email": "nope"}, "admin_email"),
                                          ({"admin_email": "dsl@demo.haven.test"}, "admin_email")])
def test_a_new_school_is_checked(trust_admin, extra, field, sent):
    r = trust_admin.post("/api/v1/admin/schools", json=_school(**extra))
    assert r.status_code == 422 and field in {e["field"] for e in r.json()["errors"]}
    assert sent == []


def test_only_a_trust_administrator_adds_schools(app, admin, dsl, teacher, engine):
    for client in (admin, dsl, teacher):
        assert client.post("/api/v1/admin/schools", json=_school()).status_code == 403
        assert client.get("/api/v1/admin/schools").status_code == 403
    with session_factory(engine)() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "trust_schools")
                          .order_by(AuditEntry.id.desc())).first()
        assert entry.outcome == "refused:403"
    assert TestClient(app).post("/api/v1/admin/schools", json=_school()).status_code == 401


# --- the rules underneath ------------------------------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    ("Title,Forename,Surname,Email,Job Title", {"title": 0, "forename": 1, "surname": 2, "email": 3, "job_title": 4}),
    ("Legal Forename,Legal Surname,Email Address,Role", {"forename": 0, "surname": 1, "email": 2, "job_title": 3}),
    ("FIRST_NAME , last  name,E-Mail,Position", {"forename": 0, "surname": 1, "email": 2, "job_title": 3}),
    ("Staff Name,Work Email", {"name": 0, "email": 1}),
    ("Forename,Preferred Forename,Surname,Email", {"forename": 0, "surname": 2, "email": 3}),
])
def test_the_staff_files_headings_are_matched_in_their_common_forms(header, expected):
    assert staff_csv.columns(header.split(",")) == expected


@pytest.mark.parametrize("password, ok", [
    ("correct horse battery", True), ("Tr0ub4dor&3xyz", True), ("x" * 11, False), ("x" * 1001, False),
    ("Password2024!", False), ("WELCOME123456", False), ("haven-school1", False), ("111111111111", False),
    ("abababababab", False), ("pat.example@school.org", False), ("mypat.exampleword", False),
])
def test_the_password_rules(password, ok):
    assert (links.password_problem(password, "pat.example@school.org") is None) is ok


def test_a_nul_in_an_address_from_a_form_is_a_field_error_not_a_500(admin):
    r = admin.post("/admin/staff/new", data={"csrf_token": admin.headers["X-CSRF-Token"], "name": "A",
                                             "email": "a\x00b@school.org", "roles": "staff"})
    assert r.status_code == 422


def test_a_name_brings_no_link_or_markup_into_the_email(admin, sent):
    # A name holding an address is refused at the door (issue 9); markup that is left reaches no e-mail.
    for name in ("Jo Bloggs https://evil.example/reset", "Jo at www.evil.example", "jo@evil.example"):
        r = admin.post("/api/v1/admin/staff", json={"name": name, "email": unique("phish")})
        assert r.status_code == 422, name
        assert "web or e-mail address" in r.json()["errors"][0]["message"]
    assert sent == []
    r = admin.post("/api/v1/admin/staff", json={"name": "Jo <a href=x>Bloggs</a>", "email": unique("phish")})
    assert r.status_code == 201
    body = sent[0].get_content()
    assert "<" not in body and body.count("/set-password/") == 1 and "Dear Jo a href x Bloggs a," in body


# --- the bootstrap command ---------------------------------------------------------------------------------

@pytest.fixture
def bootstrap_env(monkeypatch, engine):
    from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS, TEST_SECRETS_KEY
    for name, value in {"HAVEN_ENV": "test", "HAVEN_COOKIE_SECURE": "false", "HAVEN_PUBLIC_KEYS": TEST_PUBLIC_KEYS,
                        "HAVEN_GATEWAY_SIGNING_KEY": TEST_KEYS["gateway"].text(),
                        "HAVEN_SECRETS_KEY": TEST_SECRETS_KEY, "HAVEN_PUBLIC_URL": "https://haven.example",
                        "HAVEN_GATEWAY_DATABASE_URL": engine.url.render_as_string(hide_password=False)}.items():
        monkeypatch.setenv(name, value)
    from services.gateway import bootstrap
    return bootstrap


def test_bootstrap_creates_a_school_and_mails_its_administrator_then_refuses_the_urn_again(bootstrap_env, capsys, sent,
                                                                                           engine):
    urn, address = str(1000000 + uuid.uuid4().int % 8999999), unique("head")
    args = ["--school-name", "Ash Lane Primary", "--urn", urn, "--local-authority", "Kent", "--admin-name", "Ash Head",
            "--admin-email", address]
    assert bootstrap_env.main(args) == 0
    out = capsys.readouterr().out
    assert "Ash Lane Primary" in out and "dsl, admin" in out and "/set-password/" not in out
    assert sent[0]["To"] == address and link_in(sent[0]).startswith("https://haven.example/set-password/")
    assert bootstrap_env.main(args[:3] + [urn] + args[4:8] + ["--admin-email", unique("other")]) == 1
    assert "already on this Haven" in capsys.readouterr().err
    # A lost link: a new one, and the first stops working.
    assert bootstrap_env.main(["--resend-link", "--admin-email", address, "--print-link"]) == 0
    printed = re.search(r"https://haven.example/set-password/(\S+)", capsys.readouterr().out).group(1)
    with session_factory(engine)() as s:
        with pytest.raises(links.LinkGone):
            links.find_link(s, token_of(sent[0]))
        assert links.find_link(s, printed)[1].email == address
    assert bootstrap_env.main(["--resend-link", "--admin-email", unique("nobody")]) == 1


def test_bootstrap_says_when_the_mail_could_not_be_sent(bootstrap_env, capsys, monkeypatch):
    def refuse(cfg, message):
        raise ConnectionRefusedError()
    monkeypatch.setattr(mailer, "send", refuse)
    args = ["--school-name", "Rowan School", "--urn", str(100000 + uuid.uuid4().int % 899999), "--local-authority",
            "Kent", "--admin-name", "Row Head", "--admin-email", unique("row"), "--admin-only"]
    assert bootstrap_env.main(args) == 3
    assert "--resend-link" in capsys.readouterr().err


def test_bootstrap_needs_the_schools_details(bootstrap_env, capsys):
    with pytest.raises(SystemExit) as stopped:
        bootstrap_env.main(["--admin-email", unique()])
    assert stopped.value.code == 2 and "--school-name" in capsys.readouterr().err
