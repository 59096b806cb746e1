"""Setting up a real school through every real part: the bootstrap command makes the school and its first
administrator, who is e-mailed a set-password link (the Stack's SMTP server), sets a password with it,
signs in, sets up a second factor and administers the new school — which the incidents service knows
from the gateway's `school_saved` event. The link works once; the same URN is refused a second time."""
from __future__ import annotations

import email
from email import policy
import random
import re
import subprocess
import sys
import time
import uuid

import httpx
import pyotp
from sqlalchemy import text

from services.common.db import make_engine

from .stack import ROOT


def bootstrap(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.gateway.bootstrap", *args], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=120)


def mailed_link(stack, address: str) -> str:
    found = stack.mail.wait_for(lambda m: address in m[0])
    assert found, f"no e-mail to {address}"
    body = email.message_from_string(found[-1][1], policy=policy.default).get_content()
    return re.search(r"https?://\S+/set-password/[A-Za-z0-9_-]+", body).group(0)


def incidents_school(stack, school_id: int, timeout: float = 30.0):
    engine = make_engine(stack.databases["incidents"])
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with engine.connect() as c:
                name = c.execute(text("SELECT name FROM schools WHERE id = :id"), {"id": school_id}).scalar()
            if name:
                return name
            time.sleep(0.3)
        return None
    finally:
        engine.dispose()


def test_bootstrap_makes_a_school_whose_first_administrator_sets_a_password_and_signs_in(stack):
    urn = str(random.randint(100000, 999999))
    address = f"head-{uuid.uuid4().hex[:8]}@oakhill.test"
    done = bootstrap(stack, "--school-name", "Oak Hill Primary", "--urn", urn, "--local-authority", "Camden",
                     "--admin-name", "Jo Bloggs", "--admin-email", address)
    assert done.returncode == 0, done.stderr
    assert "Oak Hill Primary" in done.stdout and "E-mailed a set-password link" in done.stdout
    assert "/set-password/" not in done.stdout  # the link is a password: only with --print-link
    school_id = int(re.search(r"Created school (\d+)", done.stdout).group(1))
    assert school_id != 1  # never the demo school's id

    again = bootstrap(stack, "--school-name", "Oak Hill Again", "--urn", urn, "--local-authority", "Camden",
                      "--admin-name", "Someone", "--admin-email", f"x-{uuid.uuid4().hex[:6]}@oakhill.test")
    assert again.returncode == 1 and f"URN {urn} is already on this Haven" in again.stderr

    assert incidents_school(stack, school_id) == "Oak Hill Primary"

    link = mailed_link(stack, address)
    assert link.startswith(stack.base_url + "/set-password/")
    http = httpx.Client(base_url=stack.base_url, timeout=30)
    page = http.get(link)
    assert page.status_code == 200 and "Jo Bloggs" in page.text
    r = http.post(link, data={"password": "oak hill safe records", "confirm": "oak hill safe records"})
    assert r.status_code == 200 and "Your password has been set" in r.text
    assert http.get(link).status_code == 410  # single use

    r = http.post("/api/v1/session", json={"email": address, "password": "oak hill safe records"})
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["user"]["roles"] == ["dsl", "admin"] and session["second_factor_required"]
    headers = {"X-CSRF-Token": session["csrf_token"]}
    secret = http.post("/api/v1/session/totp/enrol", headers=headers).json()["secret"]
    r = http.post("/api/v1/session/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=headers)
    assert r.status_code == 200, r.text

    staff = http.get("/api/v1/admin/staff")
    assert staff.status_code == 200 and [s["email"] for s in staff.json()] == [address]
    added = http.post("/api/v1/admin/staff", headers=headers,
                      json={"name": "Sam Teacher", "email": f"sam-{uuid.uuid4().hex[:6]}@oakhill.test"})
    assert added.status_code == 201 and added.json()["link_sent"] is True
    http.close()


def test_bootstrap_refuses_bad_options_and_prints_a_link_only_when_asked(stack):
    bad = bootstrap(stack, "--school-name", "X", "--urn", "12", "--local-authority", "Y", "--admin-name", "Z",
                    "--admin-email", "not-an-address")
    assert bad.returncode == 1 and "--urn" in bad.stderr and "--admin-email" in bad.stderr
    urn = str(random.randint(1000000, 9999999))
    address = f"office-{uuid.uuid4().hex[:8]}@elm.test"
    done = bootstrap(stack, "--school-name", "Elm Academy", "--urn", urn, "--local-authority", "Leeds",
                     "--admin-name", "Office Manager", "--admin-email", address, "--admin-only", "--print-link")
    assert done.returncode == 0, done.stderr
    link = re.search(r"https?://\S+/set-password/\S+", done.stdout).group(0)
    assert "roles admin." in done.stdout
    assert httpx.get(link, timeout=30).status_code == 200
    assert stack.mail.to(address) == []
