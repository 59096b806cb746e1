"""Set-password links: single use, expiring, and only the SHA-256 of the token kept.

A link is how a new account gets its first password (the bootstrap's administrator, staff an
administrator adds or imports) and how an administrator resets a forgotten one. Using it ends every
session of the account. A link that is unknown, used, expired or for a deactivated account says only
that it no longer works: it never tells whether an account exists.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.common.errors import HavenError, NotFound, ValidationFailed

from .. import accounts
from ..models import AccountLink, LoginSession, StaffMember

LINK_HOURS = 72
SET_PASSWORD = "set_password"
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1000
# The passwords and words people reach for first (and the ones a school would guess); a password made of
# one of these and digits or punctuation is refused too.
COMMON_WORDS = frozenset("""
password passw0rd letmein welcome qwerty qwertyuiop asdfghjkl zxcvbnm iloveyou admin administrator
changeme monkey dragon football sunshine princess master shadow trustno1 abc abcdef abcdefgh
haven school safeguarding teacher student children secret summer winter autumn spring login
""".split())
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


class LinkGone(HavenError):
    """A link that was real but has been used or has expired (410)."""

    status_code = 410


class LinkUnknown(NotFound):
    """No link has this token (404)."""


GONE = "This link has already been used or has expired. Ask your school's Haven administrator for a new one."
UNKNOWN = "This link is not valid. Check it was copied in full, or ask your school's Haven administrator for a new one."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(session: Session, user: StaffMember, created_by: int | None, hours: int = LINK_HOURS) -> str:
    """A fresh link's token (only its hash is stored); the account's earlier unused links stop working."""
    now = utcnow()
    session.execute(update(AccountLink).where(AccountLink.user_id == user.id, AccountLink.used_at.is_(None),
                                              AccountLink.expires_at > now).values(expires_at=now))
    token = secrets.token_urlsafe(32)
    session.add(AccountLink(token_hash=_hash(token), user_id=user.id, purpose=SET_PASSWORD, created_at=now,
                            created_by=created_by, expires_at=now + timedelta(hours=hours)))
    session.flush()
    return token


def find_link(session: Session, token: str, lock: bool = False) -> tuple[AccountLink, StaffMember]:
    """The live link and its account, or LinkUnknown / LinkGone."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise LinkUnknown(UNKNOWN)
    query = select(AccountLink).where(AccountLink.token_hash == _hash(token))
    link = session.scalar(query.with_for_update() if lock else query)
    user = session.get(StaffMember, link.user_id) if link else None
    if link is None or user is None or link.purpose != SET_PASSWORD:
        raise LinkUnknown(UNKNOWN)
    if link.used_at is not None or link.expires_at <= utcnow() or not user.active:
        raise LinkGone(GONE)
    return link, user


def password_problem(password, email: str) -> str | None:
    """Why this password will not do, in words for the person choosing it; None when it will."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        return f"Choose a password of at least {MIN_PASSWORD_CHARS} characters (a few words together work well)."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"Choose a password of at most {MAX_PASSWORD_CHARS} characters."
    if not accounts.storable(password):
        return "The password holds a character that cannot be stored. Choose another."
    lowered = password.strip().lower()
    local = email.lower().split("@")[0]
    if lowered == email.lower() or (len(local) >= 4 and local in lowered):
        return "Choose a password that is not your e-mail address."
    words = re.findall(r"[a-z]+", lowered)
    if (not words or "".join(words) in COMMON_WORDS or all(w in COMMON_WORDS for w in words)
            or len(set(lowered)) <= 3):
        return "That password is too easy to guess. Choose another (a few unrelated words together work well)."
    return None


def set_password(session: Session, token: str, password) -> StaffMember:
    """Use the link: check the password, store its hash, mark the link used and end every session."""
    link, user = find_link(session, token, lock=True)
    problem = password_problem(password, user.email)
    if problem:
        raise ValidationFailed.one("password", problem)
    now = utcnow()
    user.password_hash = accounts.hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    link.used_at = now
    end_sessions(session, user.id, now)
    return user


def end_sessions(session: Session, user_id: int, now=None) -> None:
    """Every live session of the account ends now: its cookies are refused from the next request."""
    session.execute(update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
                    .values(ended_at=now or utcnow()))
