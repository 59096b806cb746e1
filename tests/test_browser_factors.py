"""Second factors in a real browser: a first sign-in that sets up an authenticator app (the secret read from
the page, the code computed with pyotp), and a security key registered then used to sign in, through
Chromium's virtual authenticator (CDP WebAuthn domain).

WebAuthn needs a host name, not an IP address, as its relying party: this module runs its own Haven with
HAVEN_PUBLIC_URL on http://localhost (a secure context for the browser, like HTTPS). Debian's Chromium;
never `playwright install`.
"""
from __future__ import annotations

import re
import uuid

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from services.common.db import make_engine, session_factory, transaction
from services.gateway import accounts
from services.gateway.models import WebAuthnCredential

from .stack import Stack
from .test_browser import PASSWORD


@pytest.fixture(scope="module")
def local_stack():
    stack = Stack()
    stack.extra_env["HAVEN_PUBLIC_URL"] = f"http://localhost:{stack.port}"
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def base(local_stack) -> str:
    return f"http://localhost:{local_stack.port}"


@pytest.fixture(scope="module")
def gateway_db(local_stack):
    engine = make_engine(local_stack.databases["gateway"])
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def new_reader(gateway_db, roles=("slt",)) -> str:
    """A senior leader's new account, with a password and no second factor yet."""
    email = f"reader-{uuid.uuid4().hex[:8]}@demo.haven.test"
    with transaction(gateway_db) as session:
        accounts.save_staff_member(session, school_id=1, name="Rhea Reader", email=email, roles=list(roles),
                                   password=PASSWORD, job_title="Assistant Head")
    return email


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("School e-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_first_sign_in_sets_up_an_authenticator_app(page, base, gateway_db):
    email = new_reader(gateway_db)
    sign_in(page, base, email)
    expect(page).to_have_url(re.compile(r"/sign-in/enrol"))
    expect(page).to_have_title("Set up your second factor — Haven")
    qr = page.get_by_role("img", name="QR code for adding Haven to your authenticator app")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    grouped = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", grouped), grouped
    # Nothing else opens until the factor is set up.
    page.goto(f"{base}/alerts")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    page.goto(f"{base}/sign-in/enrol")
    assert page.locator("#totp-secret").inner_text() == grouped  # the same secret on reload

    page.get_by_label("Code from your authenticator app").fill("000000" if pyotp.TOTP(grouped.replace(" ", "")).now() != "000000" else "111111")
    page.get_by_role("button", name="Finish setting up").click()
    expect(page.locator("#code-error")).to_contain_text("not right")

    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(grouped.replace(" ", "")).now())
    page.get_by_role("button", name="Finish setting up").click()
    expect(page.get_by_role("heading", name=re.compile("Keep these recovery codes"))).to_be_visible()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes), codes
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("header")).to_contain_text("Rhea Reader")


def add_virtual_authenticator(page: Page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return cdp, found["authenticatorId"]


def test_a_security_key_is_registered_at_first_sign_in_and_then_signs_in(page, base, gateway_db):
    email = new_reader(gateway_db)
    cdp, authenticator = add_virtual_authenticator(page)
    sign_in(page, base, email)
    expect(page).to_have_url(re.compile(r"/sign-in/enrol"))
    page.get_by_role("button", name="Use a security key instead").click()
    panel = page.locator("[data-webauthn-codes]")
    expect(panel).to_be_visible()
    expect(panel.locator("li")).to_have_count(10)
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    panel.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{base}/")

    with transaction(gateway_db) as session:
        [key] = session.scalars(select(WebAuthnCredential).join(
            accounts.StaffMember, accounts.StaffMember.id == WebAuthnCredential.user_id)
            .where(accounts.StaffMember.email == email)).all()
        first_count = key.sign_count

    # Sign out, and back in with the key as the second factor.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=1"))
    sign_in(page, base, email)
    expect(page).to_have_url(re.compile(r"/sign-in/code"))
    expect(page.get_by_label("Code from your authenticator app")).to_have_count(0)  # a key, no app
    page.get_by_role("button", name="Use your security key").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("header")).to_contain_text("Rhea Reader")
    with transaction(gateway_db) as session:
        key = session.scalar(select(WebAuthnCredential).join(
            accounts.StaffMember, accounts.StaffMember.id == WebAuthnCredential.user_id)
            .where(accounts.StaffMember.email == email))
        assert key.last_used_at is not None and key.sign_count > first_count

    # The key also answers a step-up prompt, which then returns to the page asked for.
    page.goto(f"{base}/step-up?next=/alerts")
    page.get_by_role("button", name="Use your security key").click()
    expect(page).to_have_url(f"{base}/alerts")


def test_a_key_from_another_browser_profile_is_not_accepted(page, browser, base, gateway_db):
    """The virtual authenticator of another context holds no key for this account: signing in with it fails
    and says so, and the page stays on the code step."""
    email = new_reader(gateway_db)
    add_virtual_authenticator(page)
    sign_in(page, base, email)
    page.get_by_role("button", name="Use a security key instead").click()
    expect(page.locator("[data-webauthn-codes]")).to_be_visible()

    other = browser.new_context()
    other.set_default_timeout(15_000)
    stranger = other.new_page()
    add_virtual_authenticator(stranger)
    sign_in(stranger, base, email)
    expect(stranger).to_have_url(re.compile(r"/sign-in/code"))
    stranger.get_by_role("button", name="Use your security key").click()
    expect(stranger.locator("[data-webauthn-status]")).not_to_have_text(re.compile(r"^(|Done\.)$"))
    expect(stranger).to_have_url(re.compile(r"/sign-in/code"))
    other.close()
