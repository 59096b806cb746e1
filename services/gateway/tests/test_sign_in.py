"""Signing in through both doors (the JSON API and the web form): login CSRF, throttling without denial of
service, the second factor counted across sessions, enrolment, recovery codes, step-up, security-key
ceremonies refused, `next` kept local, and the audit entries of it all."""
from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from services.common.db import session_factory, utcnow
from services.common.errors import StepUpRequired
from services.gateway import accounts, throttle
from services.gateway.models import AuditEntry, LoginSession, SignInThrottle, StaffMember
from services.gateway.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID

from .conftest import actor_of

PUBLIC = "http://localhost:8000"  # the test app's settings.public_url


@pytest.fixture(autouse=True)
def forget_throttling(engine):
    """The app commits: one test's failures must not throttle the next."""
    yield
    with session_factory(engine).begin() as s:
        s.execute(delete(SignInThrottle))


def make_member(engine, roles=("slt",), totp: bool = True) -> tuple[str, str | None]:
    """A new account (committed, as the app sees it) with its own TOTP secret, so no test reuses another's
    time step."""
    email = f"m-{uuid.uuid4().hex[:10]}@demo.haven.test"
    secret = pyotp.random_base32(32) if totp else None
    with session_factory(engine).begin() as s:
        accounts.save_staff_member(s, school_id=DEMO_SCHOOL_ID, name="Member " + email[2:8], email=email,
                                   roles=list(roles), password=DEMO_PASSWORD, totp_secret=secret)
    return email, secret


def member(engine, email: str) -> StaffMember:
    with session_factory(engine)() as s:
        return s.scalar(select(StaffMember).where(StaffMember.email == email))


def code(secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps)


def wrong(secret: str) -> str:
    right = {code(secret, d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in right)


def api_sign_in(app, email: str, address: str = "203.0.113.5", **headers) -> tuple[TestClient, object]:
    client = TestClient(app, client=(address, 50000))
    r = client.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD}, headers=headers)
    if r.status_code == 200:
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client, r


def audit_entries(engine, action: str) -> list[AuditEntry]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --- login CSRF: the JSON API ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "https://attacker.example"}, {"Origin": "null"},
                                     {"Origin": PUBLIC + ".attacker.example"},
                                     {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost:9999"}])
def test_a_sign_in_another_site_started_is_refused(app, engine, headers):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client, r = api_sign_in(app, email, **headers)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    assert r.json()["detail"] == "Sign in from Haven's own sign-in page."
    refused = audit_entries(engine, "sign_in")[-1]
    assert (refused.outcome, refused.detail, refused.ip) == ("refused:403", "cross-site request", "203.0.113.5")


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin", "Origin": PUBLIC},
                                     {"Sec-Fetch-Site": "none"}, {"Origin": PUBLIC.upper()}])
def test_a_sign_in_from_haven_itself_or_no_browser_passes(app, engine, headers):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    _client, r = api_sign_in(app, email, **headers)
    assert r.status_code == 200, r.text


# --- login CSRF: the web form ------------------------------------------------------------------------------

def sign_in_form(client: TestClient, next: str = "/") -> str:
    page = client.get("/sign-in", params={"next": next})
    assert page.status_code == 200
    token = re.search(r'name="sign_in_token" value="([^"]+)"', page.text).group(1)
    assert client.cookies.get("haven_sign_in") == token
    return token


def post_form(client: TestClient, email: str, token: str | None, next: str = "/", **headers):
    data = {"email": email, "password": DEMO_PASSWORD, "next": next}
    if token is not None:
        data["sign_in_token"] = token
    return client.post("/sign-in", data=data, headers=headers, follow_redirects=False)


def test_the_form_signs_in_with_its_own_token(app, engine):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app)
    token = sign_in_form(client)
    r = post_form(client, email, token, Origin=PUBLIC, **{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "haven_session" in r.cookies


@pytest.mark.parametrize("how", ["no cookie", "no field", "another token"])
def test_the_form_without_its_double_submitted_token_is_refused(app, engine, how):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app)
    token = sign_in_form(client)
    if how == "no cookie":
        client.cookies.clear()
    r = post_form(client, email, None if how == "no field" else ("x" * 43 if how == "another token" else token))
    assert r.status_code == 403 and "haven_session" not in r.cookies
    assert "had expired" in r.text


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://attacker.example"}])
def test_a_cross_site_form_is_refused_even_with_a_token(app, engine, headers):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app)
    token = sign_in_form(client)
    r = post_form(client, email, token, **headers)
    assert r.status_code == 403 and "haven_session" not in r.cookies
    assert audit_entries(engine, "sign_in")[-1].detail == "cross-site request"


@pytest.mark.parametrize("target, expected", [("/resume/abc123", "/resume/abc123"), ("//evil.example/x", "/"),
                                              ("/\\evil.example", "/"), ("https://evil.example/", "/")])
def test_sign_in_goes_on_to_next_only_when_it_is_a_local_path(app, engine, target, expected):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app)
    token = sign_in_form(client, next=target)
    r = post_form(client, email, token, next=target)
    assert r.status_code == 303 and r.headers["location"] == expected


def test_next_survives_the_second_factor_step(app, engine):
    email, secret = make_member(engine, roles=("slt",))
    client = TestClient(app)
    token = sign_in_form(client, next="/resume/xyz")
    r = post_form(client, email, token, next="/resume/xyz")
    assert r.headers["location"] == "/sign-in/code?next=%2Fresume%2Fxyz"
    page = client.get(r.headers["location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/sign-in/code", data={"csrf_token": csrf, "code": code(secret), "next": "/resume/xyz"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/resume/xyz"


# --- throttling ---------------------------------------------------------------------------------------------

def test_a_flood_of_wrong_passwords_from_one_address_is_refused_with_retry_after(app, engine):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app, client=("198.51.100.7", 4000))
    for n in range(throttle.ADDRESS_FAILURES):
        r = client.post("/api/v1/session", json={"email": f"guess{n}@demo.haven.test", "password": "nope"})
        assert r.status_code == 401
    r = client.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "set-cookie" not in r.headers
    # Someone else, elsewhere, is not affected.
    _other, r = api_sign_in(app, email, address="203.0.113.77")
    assert r.status_code == 200


def test_a_strangers_wrong_passwords_do_not_keep_the_owner_out(app, engine):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    _owner, r = api_sign_in(app, email, address="203.0.113.20")  # the owner's usual address
    assert r.status_code == 200
    stranger = TestClient(app, client=("198.51.100.8", 4000))
    answers = [stranger.post("/api/v1/session", json={"email": email, "password": f"guess{n}"}).status_code
               for n in range(8)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    _owner, r = api_sign_in(app, email, address="203.0.113.20")
    assert r.status_code == 200  # at the usual address, straight in
    _elsewhere, r = api_sign_in(app, email, address="203.0.113.21")
    assert r.status_code == 429  # from an address never used, after the short delay only


def test_a_pupil_flooding_the_schools_address_does_not_keep_staff_out_of_their_own_browsers(app, engine):
    """Staff and pupils share the school's address. A flood from it blocks the address, but a browser that
    has signed in to the account before carries its device cookie, and neither rule applies to it."""
    email, _ = make_member(engine, roles=("staff",), totp=False)
    school = ("198.51.100.30", 4000)
    teacher = TestClient(app, client=school)
    r = teacher.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200
    device = r.cookies.get(throttle.DEVICE_COOKIE)
    assert device and "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    pupil = TestClient(app, client=school)
    for n in range(throttle.ADDRESS_FAILURES + 3):
        pupil.post("/api/v1/session", json={"email": email if n % 2 else f"x{n}@demo.haven.test", "password": "guess"})
    assert pupil.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD}).status_code == 429
    teacher.cookies.clear()
    teacher.cookies.set(throttle.DEVICE_COOKIE, device)
    assert teacher.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD}).status_code == 200
    # Another account's cookie, or one altered, exempts nothing.
    other, _ = make_member(engine, roles=("staff",), totp=False)
    stranger = TestClient(app, client=school)
    stranger.cookies.set(throttle.DEVICE_COOKIE, device)
    assert stranger.post("/api/v1/session", json={"email": other, "password": DEMO_PASSWORD}).status_code == 429
    forged = TestClient(app, client=school)
    who, issued, mac = device.split("~")[0].split(".")
    forged.cookies.set(throttle.DEVICE_COOKIE, f"{who}.{issued}.{'0' * len(mac)}")
    assert forged.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD}).status_code == 429


def test_a_device_cookie_is_signed_for_its_account_and_expires():
    key = b"k" * 32
    cookie = throttle.device_cookie(key, "Dana@school.test", None, now=1_000_000)
    assert throttle.trusted_device(key, "dana@school.test", cookie, now=1_000_000 + 60)
    assert not throttle.trusted_device(key, "sam@school.test", cookie, now=1_000_060)
    assert not throttle.trusted_device(b"x" * 32, "dana@school.test", cookie, now=1_000_060)
    assert not throttle.trusted_device(key, "dana@school.test", cookie,
                                       now=1_000_000 + throttle.KNOWN_FOR.total_seconds() + 1)
    both = throttle.device_cookie(key, "sam@school.test", cookie, now=1_000_100)
    assert throttle.trusted_device(key, "dana@school.test", both, now=1_000_200)
    assert throttle.trusted_device(key, "sam@school.test", both, now=1_000_200)
    assert not throttle.trusted_device(key, "dana@school.test", "garbage.~..x", now=1_000_200)


def test_throttling_answers_alike_whether_or_not_the_account_exists(app, engine):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    answers = {}
    for tried in (email, f"nobody-{uuid.uuid4().hex[:6]}@demo.haven.test"):
        client = TestClient(app, client=("198.51.100.9", 4000))
        for n in range(throttle.ACCOUNT_FREE_FAILURES):
            client.post("/api/v1/session", json={"email": tried, "password": "wrong"})
        r = client.post("/api/v1/session", json={"email": tried, "password": "wrong"})
        answers[tried == email] = (r.status_code, r.json()["detail"], r.headers.get("Retry-After"))
    assert answers[True] == answers[False] and answers[True][0] == 429


def test_the_web_form_is_throttled_too(app, engine):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app, client=("198.51.100.10", 4000))
    for n in range(throttle.ACCOUNT_FREE_FAILURES):
        client.post("/api/v1/session", json={"email": email, "password": "wrong"})
    token = sign_in_form(client)
    r = post_form(client, email, token)
    assert r.status_code == 429 and r.headers["Retry-After"] and "Too many sign-in attempts" in r.text


def test_a_failed_sign_in_is_audited_with_the_address_tried_and_sign_out_too(app, engine):
    email, _ = make_member(engine, roles=("staff",), totp=False)
    client = TestClient(app, client=("192.0.2.44", 4000))
    client.post("/api/v1/session", json={"email": email.upper(), "password": "wrong"})
    refused = audit_entries(engine, "sign_in")[-1]
    assert (refused.outcome, refused.email, refused.ip) == ("refused:401", email, "192.0.2.44")
    signed_in, _ = api_sign_in(app, email)
    assert signed_in.delete("/api/v1/session").status_code == 204
    out = audit_entries(engine, "sign_out")[-1]
    assert out.user_id == member(engine, email).id and out.outcome == "ok"


# --- the second factor across sessions ----------------------------------------------------------------------

def test_a_new_sign_in_gives_no_fresh_codes_to_guess(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    for attempt in range(4):
        client, _ = api_sign_in(app, email)
        assert client.post("/api/v1/session/second-factor", json={"code": wrong(secret)}).status_code == 401
    client, _ = api_sign_in(app, email)
    assert client.post("/api/v1/session/second-factor", json={"code": wrong(secret)}).status_code == 401
    client, _ = api_sign_in(app, email)
    r = client.post("/api/v1/session/second-factor", json={"code": code(secret)})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0  # even the right code waits
    assert member(engine, email).factor_failures == 5
    outcomes = [e.outcome for e in audit_entries(engine, "second_factor") if e.user_id == member(engine, email).id]
    assert outcomes == ["refused:401"] * 5 + ["refused:429"]


def test_a_locked_factor_answers_423_and_a_recovery_code_unlocks_it(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    # Set up recovery codes as the member would, then lock the factor as ten wrong codes would.
    assert client.post("/api/v1/session/second-factor", json={"code": code(secret)}).status_code == 200
    codes = client.post("/api/v1/session/recovery-codes").json()["recovery_codes"]
    with session_factory(engine).begin() as s:
        s.execute(update(StaffMember).where(StaffMember.email == email)
                  .values(factor_locked=True, factor_failures=10))
    client, _ = api_sign_in(app, email)
    assert client.post("/api/v1/session/second-factor", json={"code": code(secret, 1)}).status_code == 423
    r = client.post("/api/v1/session/recovery-code", json={"code": codes[0]})
    assert r.status_code == 200 and r.json()["second_factor_required"] is False
    assert client.get("/api/v1/session").json()["second_factor_required"] is False
    assert not member(engine, email).factor_locked
    again, _ = api_sign_in(app, email)
    assert again.post("/api/v1/session/recovery-code", json={"code": codes[0]}).status_code == 401  # single use
    assert [e.outcome for e in audit_entries(engine, "recovery_code")][-2:] == ["ok", "refused:401"]


@pytest.mark.parametrize("body", [{}, {"code": 123456}, {"code": "1" * 11}, {"code": "12"}])
def test_a_malformed_code_is_a_422(app, engine, body):
    email, _ = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    assert client.post("/api/v1/session/second-factor", json=body).status_code == 422


# --- enrolment ------------------------------------------------------------------------------------------------

def test_a_reader_without_a_factor_enrols_before_anything_else(app, engine, rpc):
    email, _ = make_member(engine, roles=("slt",), totp=False)
    client, r = api_sign_in(app, email)
    assert r.json()["second_factor_required"] is True and r.json()["enrolment_required"] is True
    refused = client.get("/api/v1/incidents/1")
    assert refused.status_code == 401 and "Set up a second factor" in refused.json()["detail"]
    assert rpc.calls == []
    enrolment = client.post("/api/v1/session/totp/enrol").json()
    assert enrolment["qr_svg"].startswith("<svg") and enrolment["otpauth_uri"].startswith("otpauth://totp/")
    with session_factory(engine)() as s:
        stored = s.scalar(select(StaffMember.totp_secret).where(StaffMember.email == email))
    assert enrolment["secret"] not in stored  # sealed at rest
    r = client.post("/api/v1/session/totp/confirm", json={"code": wrong(enrolment["secret"])})
    assert r.status_code == 401
    r = client.post("/api/v1/session/totp/confirm", json={"code": code(enrolment["secret"])})
    assert r.status_code == 200 and len(r.json()["recovery_codes"]) == 10
    assert client.get("/api/v1/session").json()["second_factor_required"] is False
    assert client.post("/api/v1/session/totp/enrol").status_code == 409  # set up already
    assert [e.action for e in audit_entries(engine, "totp_enrolled")]


def test_someone_signed_in_with_a_factor_cannot_swap_in_a_new_one_without_a_recent_factor(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    assert client.post("/api/v1/session/second-factor", json={"code": code(secret)}).status_code == 200
    with session_factory(engine).begin() as s:
        s.execute(update(LoginSession).where(LoginSession.csrf_token == client.headers["X-CSRF-Token"])
                  .values(second_factor_at=utcnow().replace(year=2020)))
    assert client.post("/api/v1/session/webauthn/register/options").status_code == 403
    assert client.post("/api/v1/session/recovery-codes").status_code == 403


def test_the_web_enrolment_page_shows_the_qr_code_and_secret_and_then_the_recovery_codes(app, engine):
    email, _ = make_member(engine, roles=("slt",), totp=False)
    client = TestClient(app)
    token = sign_in_form(client)
    r = post_form(client, email, token)
    assert r.headers["location"] == "/sign-in/enrol?next=%2F"
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/sign-in")
    page = client.get("/sign-in/enrol")
    assert page.status_code == 200
    assert re.search(r'<img src="data:image/svg\+xml[^"]+" alt="QR code', page.text)
    grouped = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1)
    secret = grouped.replace(" ", "")
    assert len(grouped.split()[0]) == 4 and len(secret) == 32
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/sign-in/enrol", data={"csrf_token": csrf, "code": wrong(secret), "next": "/"})
    assert r.status_code == 401 and "not right" in r.text
    r = client.post("/sign-in/enrol", data={"csrf_token": csrf, "code": code(secret), "next": "/"})
    assert r.status_code == 200 and len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", r.text)) == 10


# --- step-up ------------------------------------------------------------------------------------------------

def test_the_step_up_window_runs_from_the_last_factor_and_the_step_up_endpoint_refreshes_it(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    client.post("/api/v1/session/second-factor", json={"code": code(secret)})
    fresh = client.get("/api/v1/session").json()["step_up_until"]
    assert abs(fresh - (time.time() + 30 * 60)) < 60
    with session_factory(engine).begin() as s:
        s.execute(update(LoginSession).where(LoginSession.csrf_token == client.headers["X-CSRF-Token"])
                  .values(second_factor_at=utcnow() - timedelta(minutes=31)))
    stale = client.get("/api/v1/session").json()["step_up_until"]
    assert stale < time.time()  # the actor's step-up has run out; the session has not
    assert client.post("/api/v1/session/step-up", json={"code": wrong(secret)}).status_code == 401
    r = client.post("/api/v1/session/step-up", json={"code": code(secret, 1)})
    assert r.status_code == 200
    assert client.get("/api/v1/session").json()["step_up_until"] > time.time() + 29 * 60


def test_the_actor_sent_to_a_service_carries_the_step_up_deadline(app, engine, rpc):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    client.post("/api/v1/session/second-factor", json={"code": code(secret)})
    rpc.answers["incidents.get_incident"] = StepUpRequired()
    r = client.get("/api/v1/incidents/5")
    assert r.status_code == 401 and "second factor again" in r.json()["detail"]
    assert r.json()["step_up"] == "/api/v1/session/step-up"  # what to call to go on
    actor = actor_of(rpc.calls[-1])
    assert actor.stepped_up() and abs(actor.step_up_until - (actor.second_factor_at + 30 * 60)) < 1
    assert client.get("/api/v1/session").status_code == 200  # the session did not end


def test_the_step_up_page_returns_to_a_local_page_only(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    client = TestClient(app)
    token = sign_in_form(client)
    post_form(client, email, token)
    page = client.get("/sign-in/code")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/sign-in/code", data={"csrf_token": csrf, "code": code(secret), "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/step-up", params={"next": "/incidents/7"})
    assert page.status_code == 200 and 'name="next" value="/incidents/7"' in page.text
    r = client.post("/step-up", data={"csrf_token": csrf, "code": code(secret, 1), "next": "//evil.example"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_step_up_needs_the_sign_in_finished(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    assert client.post("/api/v1/session/step-up", json={"code": code(secret)}).status_code == 401
    assert TestClient(app).post("/api/v1/session/step-up", json={"code": "123456"}).status_code == 401


# --- security keys: what is refused -----------------------------------------------------------------------------

def test_key_ceremonies_keep_their_challenge_once_and_refuse_a_made_up_answer(app, engine):
    email, _ = make_member(engine, roles=("slt",), totp=False)
    client, _ = api_sign_in(app, email)
    options = client.post("/api/v1/session/webauthn/register/options").json()
    assert options["rp"]["id"] == "localhost" and options["challenge"]
    made_up = {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
               "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}
    r = client.post("/api/v1/session/webauthn/register", json={"credential": made_up, "name": "Mine"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "credential"
    with session_factory(engine)() as s:
        assert s.scalar(select(LoginSession.webauthn_challenge)
                        .where(LoginSession.csrf_token == client.headers["X-CSRF-Token"])) is None
    r = client.post("/api/v1/session/webauthn/register", json={"credential": made_up})
    assert r.status_code == 422 and "Start again" in r.json()["errors"][0]["message"]
    assert client.post("/api/v1/session/webauthn/authenticate/options").status_code == 409  # no keys


def test_a_made_up_key_answer_counts_as_a_wrong_second_factor(app, engine):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    r = client.post("/api/v1/session/webauthn/authenticate",
                    json={"credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}})
    assert r.status_code == 401
    assert member(engine, email).factor_failures == 1
    assert client.post("/api/v1/session/webauthn/authenticate", json={"credential": "x"}).status_code == 422


def test_anonymous_callers_get_nothing_from_the_factor_routes(app):
    anonymous = TestClient(app)
    for path in ("/api/v1/session/totp/enrol", "/api/v1/session/webauthn/register/options",
                 "/api/v1/session/webauthn/authenticate/options", "/api/v1/session/recovery-codes"):
        assert anonymous.post(path).status_code == 401
    assert anonymous.get("/api/v1/session/factors").status_code == 401


def test_the_factor_routes_need_the_csrf_token(app, engine):
    email, _ = make_member(engine, roles=("slt",), totp=False)
    client, _ = api_sign_in(app, email)
    del client.headers["X-CSRF-Token"]
    assert client.post("/api/v1/session/totp/enrol").status_code == 403


def test_a_page_whose_service_asks_for_step_up_sends_the_reader_to_the_step_up_page_and_back(app, engine, rpc):
    email, secret = make_member(engine, roles=("dsl",))
    client, _ = api_sign_in(app, email)
    client.post("/api/v1/session/second-factor", json={"code": code(secret)})
    rpc.answers["alerts.list_alerts"] = StepUpRequired()
    r = client.get("/alerts?page=2", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/step-up?next=%2Falerts%3Fpage%3D2"
    assert client.get("/api/v1/session").status_code == 200  # the session did not end


ODD_ANSWERS = [{}, {"id": 1}, {"id": "AA", "rawId": "AA", "response": []},
               {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": 5}},
               {"id": "AA", "rawId": "AA", "type": "public-key",
                "response": {"clientDataJSON": "!!!", "attestationObject": "###", "transports": 7}},
               {"id": "AA", "rawId": "A" * 2000, "type": "public-key", "response": {"clientDataJSON": "W10"}}]


@pytest.mark.parametrize("answer", ODD_ANSWERS)
def test_an_odd_key_answer_is_refused_never_a_server_error(app, engine, answer):
    email, _ = make_member(engine, roles=("slt",), totp=False)
    client, _ = api_sign_in(app, email)
    client.post("/api/v1/session/webauthn/register/options")
    assert client.post("/api/v1/session/webauthn/register", json={"credential": answer}).status_code == 422
    assert client.post("/api/v1/session/webauthn/authenticate", json={"credential": answer}).status_code == 401


def web_signed_in(app, engine, roles=("dsl",)) -> tuple[TestClient, str, str]:
    """A browser-like client through the form and the code page: (client, its CSRF token, TOTP secret)."""
    email, secret = make_member(engine, roles=roles)
    client = TestClient(app)
    post_form(client, email, sign_in_form(client))
    page = client.get("/sign-in/code")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/sign-in/code", data={"csrf_token": csrf, "code": code(secret), "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303
    return client, csrf, secret


def test_the_security_page_makes_new_recovery_codes_once_the_factor_is_recent(app, engine):
    client, csrf, _secret = web_signed_in(app, engine)
    page = client.get("/account/security")
    assert page.status_code == 200 and "0 unused" in page.text and 'data-webauthn="register"' in page.text
    r = client.post("/account/recovery-codes", data={"csrf_token": csrf})
    assert r.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", r.text)
    assert len(codes) == 10
    assert "10 unused" in client.get("/account/security").text
    assert audit_entries(engine, "recovery_codes_issued")
    with session_factory(engine).begin() as s:
        s.execute(update(LoginSession).where(LoginSession.csrf_token == csrf)
                  .values(second_factor_at=utcnow() - timedelta(hours=2)))
    r = client.post("/account/recovery-codes", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/step-up?next=%2Faccount%2Fsecurity"
    assert client.post("/account/recovery-codes", data={}, follow_redirects=False).status_code == 403  # CSRF


def test_a_recovery_code_signs_in_through_the_form_once(app, engine):
    client, csrf, secret = web_signed_in(app, engine)
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>",
                       client.post("/account/recovery-codes", data={"csrf_token": csrf}).text)
    address = member_email(engine, client.get("/api/v1/session").json()["user"]["id"])
    client.post("/sign-out", data={"csrf_token": csrf})
    again = TestClient(app)
    post_form(again, address, sign_in_form(again))
    page = again.get("/sign-in/code")
    assert "Use a recovery code instead" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = again.post("/sign-in/recovery", data={"csrf_token": token, "recovery_code": codes[0], "next": "/alerts"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    third = TestClient(app)
    post_form(third, address, sign_in_form(third))
    token = re.search(r'name="csrf_token" value="([^"]+)"', third.get("/sign-in/code").text).group(1)
    r = third.post("/sign-in/recovery", data={"csrf_token": token, "recovery_code": codes[0], "next": "/"})
    assert r.status_code == 401 and "has been used" in r.text


def member_email(engine, user_id: int) -> str:
    with session_factory(engine)() as s:
        return s.get(StaffMember, user_id).email
