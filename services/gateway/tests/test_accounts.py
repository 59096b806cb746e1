"""Sign-in, sessions, the second factor and the staff directory (services/gateway/accounts.py)."""
from __future__ import annotations

import calendar
import hashlib
import json
import os
import time
from datetime import datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from services.common.errors import HavenError
from services.gateway import accounts, factors
from services.gateway.models import LoginSession, OutboxEvent, StaffMember
from services.gateway.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID, DEMO_STAFF, DEMO_TOTP_SECRET

from .conftest import CHEAP_HASHER, staff

DSL_EMAIL, SLT_EMAIL, TEACHER_EMAIL = "dsl@demo.haven.test", "slt@demo.haven.test", "teacher@demo.haven.test"
T0 = datetime(2026, 3, 2, 9, 0, 0)  # naive UTC, as the gateway stores times
IDLE, MAX_AGE = timedelta(minutes=30), timedelta(hours=10)


def code_at(when: datetime, secret: str = DEMO_TOTP_SECRET) -> str:
    """The authenticator app's code at `when` (a naive UTC datetime)."""
    return pyotp.TOTP(secret).at(calendar.timegm(when.timetuple()))


def outbox(session) -> list[dict]:
    return [json.loads(b) for b in session.scalars(select(OutboxEvent.body).order_by(OutboxEvent.id))]


# --- authenticate ------------------------------------------------------------------------------

def test_right_password_signs_in(session):
    user = accounts.authenticate(session, DSL_EMAIL, DEMO_PASSWORD)
    assert user is not None and user.email == DSL_EMAIL and user.name == "Dana Shah"


def test_wrong_password_is_refused_and_counted(session):
    assert accounts.authenticate(session, DSL_EMAIL, DEMO_PASSWORD + "x") is None
    assert staff(session, DSL_EMAIL).failed_logins == 1


def test_unknown_email_is_refused(session):
    assert accounts.authenticate(session, "nobody@demo.haven.test", DEMO_PASSWORD) is None


def test_email_is_case_and_space_insensitive(session):
    user = accounts.authenticate(session, "  DSL@Demo.Haven.TEST ", DEMO_PASSWORD)
    assert user is not None and user.email == DSL_EMAIL


def test_inactive_account_is_refused_even_with_the_right_password(session):
    staff(session, TEACHER_EMAIL).active = False
    assert accounts.authenticate(session, TEACHER_EMAIL, DEMO_PASSWORD) is None


def test_unreadable_stored_hash_counts_as_a_failure(session):
    user = staff(session, TEACHER_EMAIL)
    user.password_hash = "not-an-argon2-hash"
    assert accounts.authenticate(session, TEACHER_EMAIL, DEMO_PASSWORD) is None
    assert user.failed_logins == 1


def test_failures_never_lock_the_account_and_a_success_clears_the_count(session):
    """Guessing is slowed before a password is checked (throttle.py, test_sign_in.py); the account itself is
    never locked, so a stranger's wrong passwords cannot keep its owner out."""
    for n in range(20):
        assert accounts.authenticate(session, DSL_EMAIL, "wrong", now=T0 + timedelta(seconds=n)) is None
    user = staff(session, DSL_EMAIL)
    assert user.failed_logins == 20 and user.locked_until is None
    assert accounts.authenticate(session, DSL_EMAIL, DEMO_PASSWORD, now=T0 + timedelta(seconds=21)) is user
    assert user.failed_logins == 0


@pytest.mark.parametrize("email", ["dsl@demo.haven.test\x00", "\x00", "dsl\ud800@demo.haven.test"])
def test_an_email_no_database_can_hold_is_an_unknown_account(session, email):
    assert accounts.authenticate(session, email, DEMO_PASSWORD) is None
    assert staff(session, DSL_EMAIL).failed_logins == 0


def test_an_old_hash_is_upgraded_on_sign_in(session):
    user = staff(session, TEACHER_EMAIL)
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("old-password")
    assert accounts.authenticate(session, TEACHER_EMAIL, "old-password") is user
    assert not CHEAP_HASHER.check_needs_rehash(user.password_hash)
    CHEAP_HASHER.verify(user.password_hash, "old-password")


# --- sessions ----------------------------------------------------------------------------------

def start(session, email=TEACHER_EMAIL, at=T0):
    token, login = accounts.start_session(session, staff(session, email))
    login.created_at = login.last_seen_at = at
    return token, login


def test_session_stores_only_a_hash_of_its_token(session):
    token, login = start(session)
    assert login.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert session.scalar(select(func.count()).select_from(LoginSession)
                          .where(LoginSession.token_hash == token)) == 0


def test_resolve_session_finds_the_user_and_slides_the_idle_timer(session):
    token, login = start(session)
    found = accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=29))
    assert found == (login, staff(session, TEACHER_EMAIL))
    assert login.last_seen_at == T0 + timedelta(minutes=29)
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=58))


def test_a_request_within_a_minute_of_the_last_does_not_write_the_session(session):
    token, login = start(session)
    accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=5))
    accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=5, seconds=59))
    assert login.last_seen_at == T0 + timedelta(minutes=5)  # a read stays a read
    accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=6))
    assert login.last_seen_at == T0 + timedelta(minutes=6)


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_resolve_session_without_a_known_token(session, token):
    start(session)
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0) is None


def test_idle_session_expires_and_stays_ended(session):
    token, login = start(session)
    late = T0 + IDLE + timedelta(seconds=1)
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=late) is None
    assert login.ended_at == late
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0) is None


def test_busy_session_still_ends_at_its_maximum_age(session):
    token, login = start(session)
    now = T0
    while now + timedelta(minutes=20) <= T0 + MAX_AGE:
        now += timedelta(minutes=20)
        assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=now) is not None
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + MAX_AGE + timedelta(seconds=1)) is None
    assert login.ended_at is not None


def test_ended_session_is_not_resolved(session):
    token, login = start(session)
    accounts.end_session(login, now=T0 + timedelta(minutes=1))
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=2)) is None


def test_session_of_a_deactivated_account_is_not_resolved(session):
    token, _ = start(session)
    staff(session, TEACHER_EMAIL).active = False
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0 + timedelta(minutes=1)) is None


def test_find_login_needs_the_sessions_own_csrf_token_and_user(session):
    _, login = start(session)
    user = staff(session, TEACHER_EMAIL)
    assert accounts.find_login(session, user.id, login.csrf_token) == (login, user)
    assert accounts.find_login(session, user.id, "other")[0] is None
    assert accounts.find_login(session, staff(session, DSL_EMAIL).id, login.csrf_token)[0] is None
    accounts.end_session(login)
    assert accounts.find_login(session, user.id, login.csrf_token)[0] is None


# --- the second factor -------------------------------------------------------------------------

@pytest.mark.parametrize("roles, needed", [(["dsl"], True), (["slt"], True), (["staff", "dsl"], True),
                                           (["staff"], False), ([], False)])
def test_needs_second_factor(roles, needed):
    assert accounts.needs_second_factor(StaffMember(roles=roles)) is needed


def test_fully_signed_in_only_after_the_second_factor_for_dsl(session):
    _, dsl_login = start(session, DSL_EMAIL)
    _, teacher_login = start(session, TEACHER_EMAIL)
    assert accounts.fully_signed_in(teacher_login, staff(session, TEACHER_EMAIL))
    assert not accounts.fully_signed_in(dsl_login, staff(session, DSL_EMAIL))
    assert accounts.verify_second_factor(session, dsl_login, staff(session, DSL_EMAIL), code_at(T0), now=T0)
    assert accounts.fully_signed_in(dsl_login, staff(session, DSL_EMAIL))


def test_right_code_is_accepted_and_recorded(session):
    _, login = start(session, DSL_EMAIL)
    user = staff(session, DSL_EMAIL)
    assert accounts.verify_second_factor(session, login, user, code_at(T0), now=T0)
    assert login.second_factor_at == T0
    assert user.totp_last_step == calendar.timegm(T0.timetuple()) // 30
    assert login.failed_second_factor == 0


def test_code_with_spaces_is_accepted(session):
    _, login = start(session, DSL_EMAIL)
    code = code_at(T0)
    assert accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL), f" {code[:3]} {code[3:]} ",
                                         now=T0)


@pytest.mark.parametrize("drift", [-30, 30], ids=["previous-step", "next-step"])
def test_code_one_step_either_side_is_accepted(session, drift):
    _, login = start(session, DSL_EMAIL)
    assert accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL),
                                         code_at(T0 + timedelta(seconds=drift)), now=T0)


@pytest.mark.parametrize("drift", [-60, 60], ids=["two-steps-old", "two-steps-ahead"])
def test_code_two_steps_away_is_refused(session, drift):
    _, login = start(session, DSL_EMAIL)
    assert not accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL),
                                             code_at(T0 + timedelta(seconds=drift)), now=T0)
    assert login.failed_second_factor == 1 and login.second_factor_at is None


def test_a_code_is_good_once(session):
    user = staff(session, DSL_EMAIL)
    _, first = start(session, DSL_EMAIL)
    _, second = start(session, DSL_EMAIL)
    code = code_at(T0)
    assert accounts.verify_second_factor(session, first, user, code, now=T0)
    # The same code, seconds later, in another session (an onlooker replaying it) is refused...
    assert not accounts.verify_second_factor(session, second, user, code, now=T0 + timedelta(seconds=5))
    assert second.second_factor_at is None and second.failed_second_factor == 1
    # ...and so is the code from the step before the one already used.
    assert not accounts.verify_second_factor(session, second, user, code_at(T0 - timedelta(seconds=30)),
                                             now=T0 + timedelta(seconds=5))
    # The next step's code is fine.
    assert accounts.verify_second_factor(session, second, user, code_at(T0 + timedelta(seconds=30)),
                                         now=T0 + timedelta(seconds=30))


@pytest.mark.parametrize("bad", ["000000", "", None, "12345a", "1234567"])
def test_wrong_code_is_refused_and_counted(session, bad):
    _, login = start(session, DSL_EMAIL)
    if bad == "000000" and code_at(T0) == bad:
        bad = "999999"
    assert not accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL), bad, now=T0)
    assert login.failed_second_factor == 1
    assert login.second_factor_at is None and login.ended_at is None


# The right code written in other scripts' digits: str.isdigit() says yes to every one of them.
OTHER_DIGITS = {"arabic-indic": "٠١٢٣٤٥٦٧٨٩", "fullwidth": "０１２３４５６７８９", "devanagari": "०१२३४५६७८९",
                "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹", "mathematical-bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"}


@pytest.mark.parametrize("digits", OTHER_DIGITS.values(), ids=OTHER_DIGITS.keys())
def test_the_right_code_in_non_ascii_digits_is_a_wrong_code(session, digits):
    _, login = start(session, DSL_EMAIL)
    code = code_at(T0).translate(str.maketrans("0123456789", digits))
    assert not accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL), code, now=T0)
    assert login.failed_second_factor == 1
    assert login.second_factor_at is None and login.ended_at is None


@pytest.mark.parametrize("bad", ["\ud800\udc00" * 3, "12345\x00", "١٢٣٤٥٦", "１２３４５６", "12345٦", "é12345",
                                 "123\u00a0456", b"123456", 123456])
def test_malformed_code_is_refused_and_counted(session, bad):
    _, login = start(session, DSL_EMAIL)
    assert not accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL), bad, now=T0)
    assert login.failed_second_factor == 1 and login.second_factor_at is None


def test_five_wrong_codes_end_the_session(session):
    token, login = start(session, DSL_EMAIL)
    user = staff(session, DSL_EMAIL)
    wrong = "999999" if code_at(T0) != "999999" else "000000"
    for n in range(1, accounts.MAX_FAILED_SECOND_FACTOR):
        assert not accounts.verify_second_factor(session, login, user, wrong, now=T0)
        assert login.failed_second_factor == n and login.ended_at is None
    assert not accounts.verify_second_factor(session, login, user, wrong, now=T0)
    assert login.ended_at == T0
    assert accounts.resolve_session(session, token, IDLE, MAX_AGE, now=T0) is None


def test_account_without_a_secret_never_passes(session):
    _, login = start(session, TEACHER_EMAIL)
    assert not accounts.verify_second_factor(session, login, staff(session, TEACHER_EMAIL), code_at(T0), now=T0)
    assert login.failed_second_factor == 1


def test_actor_carries_the_second_factor_time(session):
    _, login = start(session, DSL_EMAIL)
    user = staff(session, DSL_EMAIL)
    assert accounts.actor_for(login, user).second_factor_at is None
    accounts.verify_second_factor(session, login, user, code_at(T0), now=T0)
    actor = accounts.actor_for(login, user)
    assert (actor.user_id, actor.school_id, actor.roles) == (user.id, DEMO_SCHOOL_ID, ("dsl", "admin"))
    assert actor.is_dsl


class LocalTimeZone:
    """Run with the process's local time zone set to UTC+1 (as a server in the UK in summer)."""

    def __enter__(self):
        self.old = os.environ.get("TZ")
        os.environ["TZ"] = "XXX-1"  # POSIX form: one hour ahead of UTC, no tz database needed
        time.tzset()

    def __exit__(self, *exc):
        if self.old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = self.old
        time.tzset()


def test_right_code_is_accepted_whatever_the_servers_time_zone(session):
    _, login = start(session, DSL_EMAIL)
    summer = datetime(2026, 7, 1, 12, 0, 0)
    with LocalTimeZone():
        assert accounts.verify_second_factor(session, login, staff(session, DSL_EMAIL), code_at(summer),
                                             now=summer)


def test_actor_second_factor_time_is_utc_whatever_the_servers_time_zone(session):
    _, login = start(session, DSL_EMAIL)
    login.second_factor_at = datetime(2026, 7, 1, 12, 0, 0)
    with LocalTimeZone():
        actor = accounts.actor_for(login, staff(session, DSL_EMAIL))
    assert actor.second_factor_at == calendar.timegm(login.second_factor_at.timetuple())


# --- the staff directory -----------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_saving_a_new_member_of_staff_writes_one_event_without_secrets(session):
    before = len(outbox(session))
    user = accounts.save_staff_member(session, school_id=DEMO_SCHOOL_ID, name="Nia Newstart",
                                      email=" Nia.Newstart@Demo.Haven.Test ", roles=["staff", "slt"],
                                      password="correct horse battery", totp_secret=SECRET,
                                      job_title="Head of Year 5")
    assert user.id is not None and user.email == "nia.newstart@demo.haven.test"
    assert factors.totp_secret(user) == SECRET and user.active
    assert SECRET not in user.totp_secret  # sealed at rest
    CHEAP_HASHER.verify(user.password_hash, "correct horse battery")

    events = outbox(session)[before:]
    assert len(events) == 1
    [event] = events
    assert set(event) == {"event_id", "event_type", "occurred_at", "school_id", "user_id", "name", "email",
                          "roles", "active"}
    assert event["event_type"] == "staff_member_saved"
    assert event["school_id"] == DEMO_SCHOOL_ID and event["user_id"] == user.id
    assert event["roles"] == ["staff", "slt"] and event["active"] is True
    row = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == event["event_id"])).one()
    for secret in ("correct horse battery", user.password_hash, SECRET, "$argon2"):
        assert secret not in row.body


def test_saving_an_existing_email_updates_that_account(session):
    user = staff(session, TEACHER_EMAIL)
    old_hash = user.password_hash
    before = len(outbox(session))
    saved = accounts.save_staff_member(session, school_id=DEMO_SCHOOL_ID, name="Tom Archer-Hill",
                                       email="TEACHER@demo.haven.test", roles=["staff"], active=False)
    assert saved is user
    assert user.name == "Tom Archer-Hill" and user.active is False
    assert user.password_hash == old_hash  # no new password given: the old one stands
    assert session.scalar(select(func.count()).select_from(StaffMember)
                          .where(StaffMember.email == TEACHER_EMAIL)) == 1
    [event] = outbox(session)[before:]
    assert (event["user_id"], event["active"], event["name"]) == (user.id, False, "Tom Archer-Hill")


def test_saving_with_a_new_password_replaces_it_and_keeps_the_totp_secret(session):
    user = staff(session, DSL_EMAIL)
    accounts.save_staff_member(session, school_id=DEMO_SCHOOL_ID, name=user.name, email=DSL_EMAIL,
                               roles=["dsl"], password="a brand new one")
    assert accounts.authenticate(session, DSL_EMAIL, "a brand new one") is user
    assert factors.totp_secret(user) == DEMO_TOTP_SECRET


def test_saving_for_another_school_does_not_take_over_an_account(session):
    user = staff(session, DSL_EMAIL)
    before = len(outbox(session))
    try:
        accounts.save_staff_member(session, school_id=2, name="Intruder", email=DSL_EMAIL, roles=["dsl"],
                                   password="taken over")
    except HavenError:
        pass
    assert (user.school_id, user.name) == (DEMO_SCHOOL_ID, "Dana Shah")
    assert all(e["school_id"] == user.school_id for e in outbox(session)[before:] if e["user_id"] == user.id)


def test_search_staff_by_name_in_own_school_only(session):
    accounts.save_staff_member(session, school_id=2, name="Tom Elsewhere", email="tom@elsewhere.test",
                               roles=["staff"])
    found = accounts.search_staff(session, DEMO_SCHOOL_ID, "tom")
    assert [u.name for u in found] == ["Tom Archer"]
    assert [u.name for u in accounts.search_staff(session, 2, "tom")] == ["Tom Elsewhere"]


def test_search_staff_every_term_must_match_and_order_is_by_name(session):
    assert [u.name for u in accounts.search_staff(session, DEMO_SCHOOL_ID, "t")] == [
        "Deputy Dee Lowe", "Tariq Bell", "Tess Morgan", "Tom Archer"]
    assert [u.name for u in accounts.search_staff(session, DEMO_SCHOOL_ID, "t mor")] == ["Tess Morgan"]
    assert accounts.search_staff(session, DEMO_SCHOOL_ID, "tess archer") == []


@pytest.mark.parametrize("q", ["tom\x00", "\x00", "t\udc00"])
def test_search_staff_for_text_no_name_can_hold_finds_nobody(session, q):
    assert accounts.search_staff(session, DEMO_SCHOOL_ID, q) == []


def test_search_staff_leaves_out_inactive_staff(session):
    staff(session, TEACHER_EMAIL).active = False
    session.flush()
    assert accounts.search_staff(session, DEMO_SCHOOL_ID, "archer") == []


def test_search_staff_limit(session):
    assert len(accounts.search_staff(session, DEMO_SCHOOL_ID, "")) == len(DEMO_STAFF)
    assert len(accounts.search_staff(session, DEMO_SCHOOL_ID, "", limit=2)) == 2
    assert len(accounts.search_staff(session, DEMO_SCHOOL_ID, "", limit=0)) == 1
