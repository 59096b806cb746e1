"""Trusts through every real part: a second school of the demo school's trust is set up with the bootstrap
command (the incidents service knows it from `school_saved`); its administrator adds two of the demo
school's staff by their addresses, which gives them memberships, not new accounts. The demo DSL, only a
member of staff at the new school, and the demo deputy DSL, its DSL, switch to it: neither reads anything of
the demo school while there (the services answer by the signed actor's school), and switching back gives
back what they read at home. The alerts service's directory holds each one as they are at each school."""
from __future__ import annotations

import random
import re
import time
import uuid

import httpx
import pyotp
from sqlalchemy import text

from services.common.db import make_engine

from .client import Api
from .test_admin_system import bootstrap, incidents_school

DSL, DEPUTY, TEACHER = "dsl@demo.haven.test", "ddsl@demo.haven.test", "teacher@demo.haven.test"
DEMO_SCHOOL = 1
TRUST = "Oak Trust"


def sql(stack, database: str, statement: str, **params):
    engine = make_engine(stack.databases[database])
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def second_school(stack) -> tuple[int, Api]:
    """A school of the demo school's trust, and its administrator (also its DSL), signed in with a factor."""
    # The demo seed makes its school in no trust; a trust is named when the school joins one.
    sql(stack, "gateway", "UPDATE schools SET trust = :t WHERE id = :id", t=TRUST, id=DEMO_SCHOOL)
    address = f"head-{uuid.uuid4().hex[:8]}@birch.test"
    done = bootstrap(stack, "--school-name", "Birch Academy", "--urn", str(random.randint(100000, 999999)),
                     "--local-authority", "Leeds", "--trust", TRUST, "--admin-name", "Bea Head",
                     "--admin-email", address, "--print-link")
    assert done.returncode == 0, done.stderr
    school_id = int(re.search(r"Created school (\d+)", done.stdout).group(1))
    assert incidents_school(stack, school_id) == "Birch Academy"
    link = re.search(r"https?://\S+/set-password/\S+", done.stdout).group(0)
    password = "birch academy safe records"
    r = httpx.post(link, data={"password": password, "confirm": password}, timeout=30)
    assert r.status_code == 200, r.text
    admin = Api(stack.base_url).login(address, password, totp=False)
    secret = ok(admin.post("/api/v1/session/totp/enrol"))["secret"]
    ok(admin.post("/api/v1/session/totp/confirm", json={"code": pyotp.TOTP(secret).now()}))
    return school_id, admin


def first_pupil(client) -> dict:
    for letter in "aeiou":
        found = client.get("/api/v1/pupils", params={"q": letter}).json()
        if found:
            return found[0]
    raise AssertionError("the demo school has no pupils")


def directory_entry(stack, user_id: int, school_id: int, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = sql(stack, "alerts", "SELECT roles, active FROM staff WHERE user_id = :u AND school_id = :s",
                   u=user_id, s=school_id)
        if rows:
            return rows[0]
        time.sleep(0.3)
    return None


def test_members_of_a_second_school_read_nothing_of_their_home_school_there(stack, api):
    birch, admin = second_school(stack)

    # The administrator adds two of the demo school's staff by address: memberships, no links.
    for email, roles in ((DSL, ["staff"]), (DEPUTY, ["dsl"])):
        added = ok(admin.post("/api/v1/admin/staff", json={"name": "ignored", "email": email, "roles": roles}), 201)
        assert added["membership"] is True and added["link_sent"] is False and added["roles"] == roles
        assert not [m for m in stack.mail.to(email) if "/set-password/" in m]  # no new password, no link
    assert {m["email"] for m in ok(admin.get("/api/v1/admin/staff"))} >= {DSL, DEPUTY}

    # The demo DSL reads at home…
    dsl = api(DSL, totp=True)
    pupil = first_pupil(dsl)
    neglect = next(c["id"] for c in ok(dsl.get("/api/v1/categories")) if c["name"] == "Neglect")
    incident = ok(dsl.post("/api/v1/incidents", json={
        "pupil_id": pupil["id"], "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600)),
        "account": "Came in hungry again.", "category_ids": [neglect]}), 201)
    home_chronology = ok(dsl.get(f"/api/v1/pupils/{pupil['id']}/chronology"))
    assert incident["id"] in [e.get("incident_id") for e in home_chronology["entries"]]
    assert ok(dsl.get("/api/v1/session"))["schools"] == [
        {"id": DEMO_SCHOOL, "name": "Haven Demo Primary", "current": True},
        {"id": birch, "name": "Birch Academy", "current": False}]

    # …and at Birch is a member of staff: nothing of the demo school, and only what staff may.
    switched = ok(dsl.post("/api/v1/session/school", json={"school_id": birch}))
    assert switched["user"]["roles"] == ["staff"] and switched["second_factor_required"] is False
    assert ok(dsl.get("/api/v1/pupils", params={"q": pupil["name"]})) == []
    assert dsl.get(f"/api/v1/pupils/{pupil['id']}/chronology").status_code in (403, 404)
    assert dsl.get("/api/v1/cases").status_code == 403
    assert dsl.get("/api/v1/audit").status_code == 403
    assert ok(dsl.get("/api/v1/alerts")) == []

    # The deputy DSL is Birch's DSL: the DSL team's routes open, but the demo school's records answer as
    # ids never used, and its pupils are not found.
    deputy = api(DEPUTY, totp=True)
    ok(deputy.post("/api/v1/session/school", json={"school_id": birch}))
    assert ok(deputy.get("/api/v1/pupils", params={"q": pupil["name"]})) == []
    assert deputy.get(f"/api/v1/pupils/{pupil['id']}").status_code == 404
    assert deputy.get(f"/api/v1/pupils/{pupil['id']}/chronology").status_code == 404
    assert deputy.get(f"/api/v1/pupils/{pupil['id']}/front-sheet").status_code == 404
    assert ok(deputy.get("/api/v1/cases")) == []
    assert deputy.get(f"/api/v1/incidents/{incident['id']}").status_code == 404
    assert deputy.post(f"/api/v1/incidents/{incident['id']}/actions", json={"description": "x"}).status_code == 404

    # Home again: the same reads answer as before.
    ok(deputy.post("/api/v1/session/school", json={"school_id": DEMO_SCHOOL}))
    assert ok(deputy.get(f"/api/v1/pupils/{pupil['id']}/chronology"))["entries"] == home_chronology["entries"]
    assert deputy.get(f"/api/v1/pupils/{pupil['id']}").status_code == 200
    assert ok(deputy.get(f"/api/v1/incidents/{incident['id']}"))["id"] == incident["id"]
    assert ok(deputy.get("/api/v1/pupils", params={"q": pupil["name"]}))

    # A school where the account holds no role: refused, and audited.
    teacher = api(TEACHER, totp=False)
    assert teacher.post("/api/v1/session/school", json={"school_id": birch}).status_code == 403
    outcomes = sql(stack, "gateway", "SELECT outcome FROM audit_log WHERE action = 'switch_school' "
                   "AND user_id = :u ORDER BY id", u=teacher.user["id"])
    assert [o for (o,) in outcomes] == ["refused:403"]

    # The alerts directory: each account as it is at each school.
    assert directory_entry(stack, dsl.user["id"], birch) == (["staff"], True)
    assert directory_entry(stack, deputy.user["id"], birch) == (["dsl"], True)
    assert directory_entry(stack, deputy.user["id"], DEMO_SCHOOL) == (["dsl"], True)

    # Birch ends the deputy's membership: their session working there ends; the directory follows.
    ok(deputy.post("/api/v1/session/school", json={"school_id": birch}))
    ok(admin.post(f"/api/v1/admin/staff/{deputy.user['id']}/deactivate"))
    assert deputy.get("/api/v1/session").status_code == 401
    deadline = time.time() + 30
    while directory_entry(stack, deputy.user["id"], birch)[1] and time.time() < deadline:
        time.sleep(0.3)
    assert directory_entry(stack, deputy.user["id"], birch) == (["dsl"], False)
    assert directory_entry(stack, deputy.user["id"], DEMO_SCHOOL) == (["dsl"], True)
