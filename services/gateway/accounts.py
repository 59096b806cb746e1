"""Staff accounts, sessions and the second factor, in plain Python over a SQLAlchemy session.

Password guessing is slowed by throttle.py (per source address and per account, never a lock-out);
second-factor answers are checked and counted per account by factors.py.

Trusts: an account belongs to its home school (staff.school_id, staff.roles) and may hold roles at other
schools of the same trust (memberships). A session works in one school at a time (sessions.school_id,
None for home); `standing_of` gives the roles, job title and groups that apply there, and everything
downstream filters by that school, so nothing crosses from one school to another.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.common.actor import SECOND_FACTOR_ROLES, Actor, Grant
from services.common.db import contains_pattern, utcnow
from services.common.errors import Conflict
from services.common.events import add_to_outbox, make_event

from . import audit as audit_trail
from . import factors
from .models import GroupMember, LoginSession, Membership, OutboxEvent, School, StaffGroup, StaffMember

hasher = PasswordHasher()
_DUMMY_HASH = hasher.hash("not-a-password")
MAX_FAILED_SECOND_FACTOR = factors.MAX_FAILED_IN_SESSION
_NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")


def hash_password(password: str) -> str:
    return hasher.hash(password)


@dataclass(frozen=True)
class Standing:
    """Who an account is at one school: that school's roles and job title."""

    school_id: int
    roles: tuple[str, ...]
    job_title: str | None


def home_standing(user: StaffMember) -> Standing:
    return Standing(school_id=user.school_id, roles=tuple(user.roles or ()), job_title=user.job_title)


def membership(session: Session, user_id: int, school_id: int) -> Membership | None:
    """The account's membership of a school other than its home (active or not), or None."""
    return session.scalar(select(Membership).where(Membership.user_id == user_id, Membership.school_id == school_id))


def standing_at(session: Session, user: StaffMember, school_id: int | None) -> Standing | None:
    """The account's standing at `school_id` (None: home), or None when it holds no active role there."""
    if school_id is None or school_id == user.school_id:
        return home_standing(user)
    member = membership(session, user.id, school_id)
    if member is None or not member.active:
        return None
    return Standing(school_id=member.school_id, roles=tuple(member.roles or ()), job_title=member.job_title)


def standing_of(session: Session, login: LoginSession, user: StaffMember) -> Standing:
    """The standing at the session's current school; a membership ended since falls back to home (it
    never keeps the roles it had)."""
    return standing_at(session, user, login.school_id) or home_standing(user)


def schools_of(session: Session, user: StaffMember, current: int) -> list[dict]:
    """The schools the account may work in (home first, then active memberships), marking the current."""
    ids = [user.school_id] + list(session.scalars(
        select(Membership.school_id).where(Membership.user_id == user.id, Membership.active.is_(True))
        .order_by(Membership.school_id)))
    names = {s.id: s.name for s in session.scalars(select(School).where(School.id.in_(ids)))}
    return [{"id": i, "name": names.get(i, f"School {i}"), "current": i == current} for i in ids]


def school_count(session: Session, user: StaffMember) -> int:
    """How many schools the account may work in: its home and its active memberships."""
    return 1 + (session.scalar(select(func.count()).select_from(Membership).where(
        Membership.user_id == user.id, Membership.active.is_(True))) or 0)


def switch_school(session: Session, login: LoginSession, user: StaffMember, school_id: int) -> Standing | None:
    """Move the session to `school_id`; None (nothing changed) when the account holds no role there. The
    second factor's time is kept: the same person in the same session."""
    standing = standing_at(session, user, school_id)
    if standing is not None:
        login.school_id = None if school_id == user.school_id else school_id
    return standing


def grants_of(session: Session, user: StaffMember, school_id: int | None = None) -> tuple[Grant, ...]:
    """What the member's groups at `school_id` (default: home) let them read and record (category readers),
    read afresh on every request: a change of group applies at once."""
    school_id = user.school_id if school_id is None else school_id
    groups = session.scalars(select(StaffGroup).join(GroupMember, GroupMember.group_id == StaffGroup.id)
                             .where(GroupMember.user_id == user.id, StaffGroup.active.is_(True),
                                    StaffGroup.school_id == school_id).order_by(StaffGroup.id))
    return tuple(Grant(categories=tuple(g.category_ids), year_groups=None if g.year_groups is None
                       else tuple(g.year_groups)) for g in groups if g.category_ids)


def needs_second_factor(user: StaffMember, grants: tuple[Grant, ...] = (), roles=None) -> bool:
    """Readers of records (DSL, SLT, category readers) and administrators hold a second factor. `roles`:
    the roles at the session's school (default: home)."""
    return bool(SECOND_FACTOR_ROLES & set(user.roles if roles is None else roles)) or bool(grants)


def _epoch(naive_utc: datetime) -> float:
    """Seconds since the epoch of a naive UTC datetime (`.timestamp()` would read it as local time)."""
    return naive_utc.replace(tzinfo=timezone.utc).timestamp()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def storable(text: str) -> bool:
    """Whether PostgreSQL takes `text` as a parameter: no NUL, no lone surrogate (a web form's fields reach
    here without the gateway's JSON guard)."""
    return _NOT_STORABLE.search(text) is None


def authenticate(session: Session, email: str, password: str, now: datetime | None = None) -> StaffMember | None:
    """The account for these credentials, or None. Never locks an account: the caller slows guessing
    per address and per account first (throttle.py), so a stranger cannot keep the DSL out."""
    email = email.strip().lower()
    user = session.scalar(select(StaffMember).where(StaffMember.email == email)) if storable(email) else None
    if user is None or not user.active:
        try:
            hasher.verify(_DUMMY_HASH, password)  # same work as a real check: no timing oracle
        except VerificationError:
            pass
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins = (user.failed_logins or 0) + 1  # for the administrator's view; locks nothing
        return None
    user.failed_logins, user.locked_until = 0, None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def start_session(session: Session, user: StaffMember) -> tuple[str, LoginSession]:
    token = secrets.token_urlsafe(32)
    login = LoginSession(token_hash=_token_hash(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32))
    session.add(login)
    session.flush()
    return token, login


LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def resolve_session(session: Session, token: str | None, idle: timedelta, max_age: timedelta,
                    now: datetime | None = None) -> tuple[LoginSession, StaffMember] | None:
    if not token:
        return None
    now = now or utcnow()
    login = session.get(LoginSession, _token_hash(token))
    if login is None or login.ended_at is not None:
        return None
    if now - login.last_seen_at > idle or now - login.created_at > max_age:
        login.ended_at = now
        return None
    user = session.get(StaffMember, login.user_id)
    if user is None or not user.active:
        return None
    # The idle timeout is counted in minutes: writing the session row on every request would make
    # every read a write. Once a minute is enough.
    if now - login.last_seen_at >= LAST_SEEN_RESOLUTION:
        login.last_seen_at = now
    return login, user


def verify_second_factor(session: Session, login: LoginSession, user: StaffMember, code: str,
                         now: datetime | None = None, key: bytes | None = None) -> bool:
    """Accept a TOTP code once (±1 step for clock drift). Wrong codes count on the account (a delay,
    then a lock: factors.py) and five in one session end it."""
    return factors.verify_totp(session, login, user, code, key, now).ok


def needs_enrolment(session: Session, user: StaffMember, grants: tuple[Grant, ...] = (), roles=None) -> bool:
    """Must hold a second factor and has none yet: set one up before anything else."""
    return needs_second_factor(user, grants, roles) and not factors.has_factor(session, user)


def find_login(session: Session, user_id: int, csrf_token: str):
    """The live session a request was resolved to (its CSRF token is unique to it)."""
    login = session.scalar(select(LoginSession).where(LoginSession.csrf_token == csrf_token,
                                                      LoginSession.user_id == user_id,
                                                      LoginSession.ended_at.is_(None)))
    return login, session.get(StaffMember, user_id)


def end_session(login: LoginSession, now: datetime | None = None) -> None:
    login.ended_at = now or utcnow()


def fully_signed_in(login: LoginSession, user: StaffMember, grants: tuple[Grant, ...] = (), roles=None) -> bool:
    return not needs_second_factor(user, grants, roles) or login.second_factor_at is not None


def actor_for(login: LoginSession, user: StaffMember, grants: tuple[Grant, ...] = (),
              step_up: timedelta = timedelta(minutes=30), standing: Standing | None = None) -> Actor:
    """The signed actor context: the account at `standing`'s school (default: home), with its roles there."""
    standing = standing or home_standing(user)
    second = _epoch(login.second_factor_at) if login.second_factor_at else None
    return Actor(user_id=user.id, school_id=standing.school_id, name=user.name, roles=standing.roles,
                 second_factor_at=second, step_up_until=None if second is None else second + step_up.total_seconds(),
                 grants=grants, job_title=standing.job_title)


def save_staff_member(session: Session, *, school_id: int, name: str, email: str, roles: list[str],
                      password: str | None = None, totp_secret: str | None = None,
                      job_title: str | None = None, active: bool = True,
                      secrets_key: bytes | None = None) -> StaffMember:
    """Create or update an account and tell the other services (alerts keeps a directory copy).

    A `totp_secret` given here (the demo seed's) is sealed with the secrets key (`secrets_key`, or
    HAVEN_SECRETS_KEY) and counts as a confirmed authenticator app."""
    email = email.strip().lower()
    user = session.scalar(select(StaffMember).where(StaffMember.email == email))
    if user is not None and user.school_id != school_id:
        raise Conflict("That e-mail address belongs to an account at another school.")
    if user is None:
        user = StaffMember(school_id=school_id, email=email, password_hash=hash_password(
            password or secrets.token_urlsafe(24)))
        session.add(user)
    elif password:
        user.password_hash = hash_password(password)
    user.name, user.roles, user.job_title, user.active = name, list(roles), job_title, active
    session.flush()  # the id: a sealed secret is bound to its row
    if totp_secret is not None:
        factors.store_secret(user, totp_secret, secrets_key)
        user.totp_confirmed_at, user.totp_last_step = utcnow(), None
    add_to_outbox(session, OutboxEvent, make_event(
        "staff_member_saved", school_id, user_id=user.id, name=user.name, email=user.email,
        roles=list(user.roles), active=user.active))
    for member in session.scalars(select(Membership).where(Membership.user_id == user.id)):
        publish_membership(session, user, member)  # a new name, address or deactivation reaches them too
    return user


def publish_membership(session: Session, user: StaffMember, member: Membership) -> None:
    """Tell the other services who the account is at a member school (the alerts directory keeps one
    entry per account and school): alerted there with those roles, while both the account and the
    membership are active."""
    add_to_outbox(session, OutboxEvent, make_event(
        "staff_member_saved", member.school_id, user_id=user.id, name=user.name, email=user.email,
        roles=list(member.roles or []), active=bool(user.active and member.active)))


def save_membership(session: Session, user: StaffMember, school_id: int, *, roles: list[str],
                    job_title: str | None = None, active: bool = True) -> Membership:
    """Create or update the account's membership of `school_id` (never its home school) and publish it."""
    if school_id == user.school_id:
        raise Conflict("That is the account's home school.")
    member = membership(session, user.id, school_id)
    if member is None:
        member = Membership(user_id=user.id, school_id=school_id)
        session.add(member)
    member.roles, member.job_title, member.active = list(roles), job_title, active
    member.deactivated_at = None if active else (member.deactivated_at or utcnow())
    session.flush()
    publish_membership(session, user, member)
    return member


def standings_at(session: Session, school_id: int, ids, active_only: bool = True) -> dict[int, tuple[StaffMember, Standing]]:
    """The accounts among `ids` that belong to `school_id` (home, or a membership there), each with its
    standing there; `active_only`: only those who may work there now (account and membership active)."""
    ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    if not ids:
        return {}
    found: dict[int, tuple[StaffMember, Standing]] = {}
    for user in session.scalars(select(StaffMember).where(StaffMember.id.in_(ids))):
        if active_only and not user.active:
            continue
        here = standing_at(session, user, school_id) if active_only else _any_standing_at(session, user, school_id)
        if here is not None:
            found[user.id] = (user, here)
    return found


def _any_standing_at(session: Session, user: StaffMember, school_id: int) -> Standing | None:
    """The standing at `school_id` whether or not it is still active (a name on an old record)."""
    if school_id == user.school_id:
        return home_standing(user)
    member = membership(session, user.id, school_id)
    return None if member is None else Standing(member.school_id, tuple(member.roles or ()), member.job_title)


def search_staff(session: Session, school_id: int, q: str, limit: int = 20) -> list[StaffMember]:
    """The school's active staff by name: its own and members from other schools of its trust."""
    members = select(Membership.user_id).where(Membership.school_id == school_id, Membership.active.is_(True))
    query = select(StaffMember).where(or_(StaffMember.school_id == school_id, StaffMember.id.in_(members)),
                                      StaffMember.active.is_(True))
    if not storable(q or ""):
        return []  # no name holds what no text may hold
    for term in (q or "").split()[:4]:
        query = query.where(StaffMember.name.ilike(contains_pattern(term), escape="\\"))
    return list(session.scalars(query.order_by(StaffMember.name).limit(max(1, min(limit, 100)))))


def audit(session: Session, *, action: str, outcome: str, user_id: int | None = None,
          school_id: int | None = None, object_type: str | None = None, object_id=None,
          ip: str | None = None, email: str | None = None, detail: str | None = None,
          pupil_id: int | None = None) -> None:
    """One entry on the hash-chained audit trail (audit.py), in the caller's transaction."""
    audit_trail.write(session, action=action, outcome=outcome, user_id=user_id, school_id=school_id,
                      object_type=object_type, object_id=object_id, ip=ip, email=email, detail=detail,
                      pupil_id=pupil_id)
