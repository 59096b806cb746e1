"""Second factors (factors.py), password throttling (throttle.py) and secrets at rest (secretbox.py), over
the real database: wrong answers counted per account across sessions, the delay then the lock, recovery
codes, enrolment, the administrator's reset, and a stranger's guessing that never keeps the owner out."""
from __future__ import annotations

import base64
import calendar
from datetime import datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from services.common.errors import Conflict
from services.common.testing import TEST_SECRETS_KEY
from services.gateway import accounts, factors, secretbox, throttle
from services.gateway.models import AuditEntry, RecoveryCode, SignInThrottle, WebAuthnCredential
from services.gateway.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID, DEMO_TOTP_SECRET

from .conftest import staff

KEY = base64.b64decode(TEST_SECRETS_KEY)
DSL_EMAIL, TEACHER_EMAIL = "dsl@demo.haven.test", "teacher@demo.haven.test"
T0 = datetime(2026, 3, 2, 9, 0, 0)


def code_at(when: datetime, secret: str = DEMO_TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).at(calendar.timegm(when.timetuple()))


def wrong_code(when: datetime, secret: str = DEMO_TOTP_SECRET) -> str:
    right = {code_at(when + timedelta(seconds=d), secret) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def login_for(session, email: str):
    user = staff(session, email)
    _token, login = accounts.start_session(session, user)
    return login, user


# --- secrets at rest -----------------------------------------------------------------------------------

def test_the_totp_secret_column_does_not_hold_the_base32_secret(session):
    user = staff(session, DSL_EMAIL)
    assert secretbox.is_sealed(user.totp_secret)
    assert DEMO_TOTP_SECRET not in user.totp_secret
    assert factors.totp_secret(user, KEY) == DEMO_TOTP_SECRET


def test_a_sealed_secret_moved_to_another_account_does_not_open(session):
    dsl, other = staff(session, DSL_EMAIL), staff(session, "ddsl@demo.haven.test")
    other.totp_secret = dsl.totp_secret
    with pytest.raises(secretbox.SecretboxError):
        factors.totp_secret(other, KEY)


def test_a_sealed_secret_does_not_open_with_another_key(session):
    with pytest.raises(secretbox.SecretboxError):
        factors.totp_secret(staff(session, DSL_EMAIL), b"\x01" * 32)


def test_a_secret_stored_in_the_clear_before_is_sealed_on_first_use_and_still_works(session):
    login, user = login_for(session, DSL_EMAIL)
    user.totp_secret, user.totp_confirmed_at = DEMO_TOTP_SECRET, None  # as an older database held it
    assert factors.has_totp(user)
    assert factors.verify_totp(session, login, user, code_at(T0), KEY, T0).ok
    assert secretbox.is_sealed(user.totp_secret) and user.totp_confirmed_at is not None


# --- counted per account, across sessions ----------------------------------------------------------------

def test_a_new_sign_in_does_not_give_five_more_tries(session):
    user = staff(session, DSL_EMAIL)
    for n in range(4):
        login, _ = login_for(session, DSL_EMAIL)
        assert factors.verify_totp(session, login, user, wrong_code(T0), KEY, T0).outcome == "wrong"
    assert user.factor_failures == 4
    login, _ = login_for(session, DSL_EMAIL)  # a fresh session: the count stays
    verdict = factors.verify_totp(session, login, user, wrong_code(T0), KEY, T0)
    assert user.factor_failures == 5 and user.factor_delay_until == T0 + factors.FIRST_DELAY
    assert verdict.outcome == "wrong"


def test_after_five_wrong_codes_even_the_right_code_waits_out_a_growing_delay(session):
    login, user = login_for(session, DSL_EMAIL)
    for n in range(5):
        factors.verify_totp(session, None, user, wrong_code(T0), KEY, T0)
    waiting = factors.verify_totp(session, login, user, code_at(T0), KEY, T0 + timedelta(seconds=10))
    assert waiting.outcome == "wait" and waiting.retry_after == 20
    assert user.factor_failures == 5  # a try during the delay is not checked or counted
    t1 = T0 + timedelta(seconds=31)
    assert factors.verify_totp(session, login, user, wrong_code(t1), KEY, t1).outcome == "wrong"
    assert user.factor_delay_until == t1 + timedelta(seconds=60)  # doubled
    t2 = t1 + timedelta(seconds=61)
    assert factors.verify_totp(session, login, user, code_at(t2), KEY, t2).ok
    assert user.factor_failures == 0 and user.factor_delay_until is None  # a right code clears the count


def test_ten_wrong_codes_lock_the_factor_until_an_administrator_resets_it(session):
    user = staff(session, DSL_EMAIL)
    now = T0
    for n in range(10):
        verdict = factors.verify_totp(session, None, user, wrong_code(now), KEY, now)
        now = (user.factor_delay_until or now) + timedelta(seconds=1)
    assert verdict.outcome == "locked" and user.factor_locked
    later = now + timedelta(days=2)
    login, _ = login_for(session, DSL_EMAIL)
    assert factors.verify_totp(session, login, user, code_at(later), KEY, later).outcome == "locked"
    assert login.second_factor_at is None

    admin = staff(session, "ddsl@demo.haven.test")
    factors.reset(session, user, by_user_id=admin.id, ip="192.0.2.9")
    assert not user.factor_locked and user.factor_failures == 0
    assert user.totp_secret is None and not factors.has_factor(session, user)
    assert accounts.needs_enrolment(session, user)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "factor_reset")
                            .order_by(AuditEntry.id.desc())).first()
    assert (entry.object_id, entry.user_id, entry.outcome) == (str(user.id), admin.id, "ok")


def test_a_reset_takes_keys_recovery_codes_and_the_sessions_second_factor(session):
    login, user = login_for(session, DSL_EMAIL)
    login.second_factor_at = T0
    factors.new_recovery_codes(session, user)
    session.add(WebAuthnCredential(user_id=user.id, credential_id="abc", public_key=b"k", name="Key"))
    session.flush()
    factors.reset(session, user)
    session.refresh(login)
    assert login.second_factor_at is None
    assert session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    assert session.scalars(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id)).all() == []


def test_five_wrong_codes_in_one_session_still_end_it(session):
    login, user = login_for(session, DSL_EMAIL)
    now = T0
    for _ in range(5):
        factors.verify_totp(session, login, user, wrong_code(now), KEY, now)
        now = (user.factor_delay_until or now) + timedelta(seconds=1)
    assert login.ended_at is not None


# --- recovery codes ------------------------------------------------------------------------------------

def test_recovery_codes_are_kept_hashed_and_each_works_once(session):
    login, user = login_for(session, DSL_EMAIL)
    codes = factors.new_recovery_codes(session, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = [r.code_hash for r in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id))]
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    assert factors.use_recovery_code(session, login, user, codes[3].upper(), T0).ok  # as typed: any case
    assert login.second_factor_at == T0
    assert factors.use_recovery_code(session, login, user, codes[3], T0).outcome == "wrong"
    assert factors.recovery_codes_left(session, user) == 9


def test_a_recovery_code_clears_a_locked_factor(session):
    login, user = login_for(session, DSL_EMAIL)
    codes = factors.new_recovery_codes(session, user)
    user.factor_locked, user.factor_failures = True, 10
    assert factors.use_recovery_code(session, login, user, codes[0], T0).ok
    assert not user.factor_locked and user.factor_failures == 0
    assert factors.verify_totp(session, login, user, code_at(T0), KEY, T0).ok


def test_wrong_recovery_codes_are_counted_like_wrong_codes(session):
    login, user = login_for(session, DSL_EMAIL)
    factors.new_recovery_codes(session, user)
    for bad in ("aaaaa-aaaaa", "not a code", "", None, "x" * 500):
        factors.use_recovery_code(session, login, user, bad, T0)
    assert user.factor_failures == 5
    assert factors.use_recovery_code(session, login, user, "bbbbb-bbbbb", T0).outcome == "wait"


def test_a_new_set_of_recovery_codes_replaces_the_old(session):
    login, user = login_for(session, DSL_EMAIL)
    old = factors.new_recovery_codes(session, user)
    factors.new_recovery_codes(session, user)
    assert factors.use_recovery_code(session, login, user, old[0], T0).outcome == "wrong"


# --- enrolment -------------------------------------------------------------------------------------------

def new_reader(session, email="new.reader@demo.haven.test", roles=("slt",)):
    return accounts.save_staff_member(session, school_id=DEMO_SCHOOL_ID, name="New Reader", email=email,
                                      roles=list(roles), password=DEMO_PASSWORD)


def test_a_reader_without_a_factor_must_enrol_and_a_teacher_need_not(session):
    reader = new_reader(session)
    assert accounts.needs_enrolment(session, reader)
    assert not accounts.needs_enrolment(session, staff(session, TEACHER_EMAIL))
    assert not accounts.needs_enrolment(session, staff(session, DSL_EMAIL))


def test_enrolment_gives_a_sealed_secret_a_qr_code_and_one_right_code_confirms_it(session):
    reader = new_reader(session)
    _token, login = accounts.start_session(session, reader)
    enrolment = factors.begin_totp(reader, "Haven", KEY)
    assert enrolment.uri.startswith("otpauth://totp/") and "issuer=Haven" in enrolment.uri
    assert enrolment.qr_svg.startswith("<svg") and enrolment.qr_data_uri.startswith("data:image/svg+xml")
    assert enrolment.grouped.replace(" ", "") == enrolment.secret and len(enrolment.grouped.split()[0]) == 4
    assert enrolment.secret not in reader.totp_secret
    assert factors.begin_totp(reader, "Haven", KEY).secret == enrolment.secret  # a reload keeps the secret
    assert not factors.has_totp(reader) and accounts.needs_enrolment(session, reader)
    # An unconfirmed secret is no factor: its code does not sign in through the usual door.
    assert not factors.verify_totp(session, login, reader, code_at(T0, enrolment.secret), KEY, T0).ok
    assert factors.confirm_totp(session, login, reader, code_at(T0 + timedelta(seconds=30), enrolment.secret), KEY,
                                T0 + timedelta(seconds=30)).ok
    assert reader.totp_confirmed_at is not None and login.second_factor_at is not None
    assert not accounts.needs_enrolment(session, reader)
    with pytest.raises(Conflict):
        factors.begin_totp(reader, "Haven", KEY)


def test_a_wrong_confirmation_code_is_counted(session):
    reader = new_reader(session)
    _token, login = accounts.start_session(session, reader)
    enrolment = factors.begin_totp(reader, "Haven", KEY)
    assert factors.confirm_totp(session, login, reader, wrong_code(T0, enrolment.secret), KEY, T0).outcome == "wrong"
    assert reader.factor_failures == 1 and reader.totp_confirmed_at is None


# --- password throttling ------------------------------------------------------------------------------------

STRANGER, OWNER_HOME = "198.51.100.66", "203.0.113.10"


def test_a_flood_from_one_address_is_refused_whatever_it_tries(session):
    now = T0
    for n in range(throttle.ADDRESS_FAILURES):
        assert throttle.retry_after(session, f"someone{n}@demo.haven.test", STRANGER, now) is None
        throttle.failed(session, f"someone{n}@demo.haven.test", STRANGER, now)
    wait = throttle.retry_after(session, "anyone@demo.haven.test", STRANGER, now)
    assert wait == throttle.ADDRESS_BLOCK.total_seconds()
    assert throttle.retry_after(session, "anyone@demo.haven.test", OWNER_HOME, now) is None
    assert throttle.retry_after(session, "anyone@demo.haven.test", STRANGER,
                                now + throttle.ADDRESS_BLOCK + timedelta(seconds=1)) is None


def test_an_account_under_guessing_takes_one_try_per_growing_delay(session):
    now = T0
    for n in range(throttle.ACCOUNT_FREE_FAILURES):
        assert throttle.retry_after(session, DSL_EMAIL, f"192.0.2.{n}", now) is None
        throttle.failed(session, DSL_EMAIL, f"192.0.2.{n}", now)
    assert throttle.retry_after(session, DSL_EMAIL, "192.0.2.200", now) == 30
    later = now + timedelta(seconds=31)
    assert throttle.retry_after(session, DSL_EMAIL, "192.0.2.200", later) is None
    throttle.failed(session, DSL_EMAIL, "192.0.2.200", later)
    assert throttle.retry_after(session, DSL_EMAIL, "192.0.2.201", later) == 60


def test_the_answer_is_the_same_for_an_address_nobody_has(session):
    for email in (DSL_EMAIL, "nobody-here@demo.haven.test"):
        for n in range(throttle.ACCOUNT_FREE_FAILURES):
            throttle.failed(session, email, f"192.0.2.{n}", T0)
    assert (throttle.retry_after(session, DSL_EMAIL, "192.0.2.99", T0)
            == throttle.retry_after(session, "nobody-here@demo.haven.test", "192.0.2.99", T0) == 30)


def test_a_strangers_guessing_never_keeps_the_owner_out_where_they_have_signed_in_before(session):
    throttle.succeeded(session, DSL_EMAIL, OWNER_HOME, T0 - timedelta(days=3))
    now = T0
    for n in range(40):  # a stranger hammering from one address, then another
        address = STRANGER if n < 19 else "198.51.100.67"
        if throttle.retry_after(session, DSL_EMAIL, address, now) is None:
            throttle.failed(session, DSL_EMAIL, address, now)
        now += timedelta(seconds=5)
    assert throttle.retry_after(session, DSL_EMAIL, "198.51.100.67", now) is not None
    assert throttle.retry_after(session, DSL_EMAIL, OWNER_HOME, now) is None  # the owner walks in
    # …and from an address never seen before, once the short delay has passed.
    row = session.get(SignInThrottle, throttle._keys(DSL_EMAIL, "x")[1])
    assert row.blocked_until - now <= throttle.LONGEST_ACCOUNT_DELAY
    assert throttle.retry_after(session, DSL_EMAIL, "192.0.2.50", row.blocked_until + timedelta(seconds=1)) is None


def test_failures_spread_out_beyond_the_window_start_afresh(session):
    for n in range(throttle.ACCOUNT_FREE_FAILURES - 1):
        throttle.failed(session, DSL_EMAIL, STRANGER, T0)
    later = T0 + throttle.WINDOW + timedelta(seconds=1)
    throttle.failed(session, DSL_EMAIL, STRANGER, later)
    assert throttle.retry_after(session, DSL_EMAIL, STRANGER, later) is None


def test_a_right_password_clears_the_addresss_count(session):
    for n in range(throttle.ADDRESS_FAILURES - 1):
        throttle.failed(session, f"x{n}@demo.haven.test", STRANGER, T0)
    throttle.succeeded(session, TEACHER_EMAIL, STRANGER, T0)
    throttle.failed(session, "y@demo.haven.test", STRANGER, T0)
    assert throttle.retry_after(session, "z@demo.haven.test", STRANGER, T0) is None


def test_old_counts_and_addresses_are_pruned_and_live_ones_kept(session):
    throttle.failed(session, "old@demo.haven.test", STRANGER, T0 - timedelta(days=2))
    throttle.succeeded(session, DSL_EMAIL, "192.0.2.1", T0 - timedelta(days=100))
    throttle.failed(session, "new@demo.haven.test", "192.0.2.2", T0)
    throttle.succeeded(session, TEACHER_EMAIL, OWNER_HOME, T0)  # prunes
    keys = set(session.scalars(select(SignInThrottle.key)))
    assert throttle._keys("old@demo.haven.test", STRANGER)[1] not in keys
    assert throttle._keys(DSL_EMAIL, "192.0.2.1")[2] not in keys
    assert {throttle._keys("new@demo.haven.test", "192.0.2.2")[1], throttle._keys(TEACHER_EMAIL, OWNER_HOME)[2]} <= keys
