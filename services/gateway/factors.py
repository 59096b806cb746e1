"""Second factors: TOTP enrolment and codes, recovery codes, and wrong answers counted per account.

Wrong answers are counted on the account (`staff.factor_failures`), not the session, so signing in
again gives no fresh tries: after FAILURES_BEFORE_DELAY wrong answers each further try waits a
growing delay (30 s, doubling), and after FAILURES_BEFORE_LOCK the factor is locked until an
administrator resets it (`reset`) or a recovery code is used. A right answer clears the count.

TOTP secrets are sealed at rest (secretbox.py, the purpose `totp:<user id>`); a secret stored in the
clear before that (an older database) is sealed the first time it is used.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyotp
import segno
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.common.errors import Conflict

from . import audit as audit_trail
from . import secretbox
from .models import LoginSession, RecoveryCode, StaffMember, WebAuthnCredential

FAILURES_BEFORE_DELAY = 5
FAILURES_BEFORE_LOCK = 10
FIRST_DELAY = timedelta(seconds=30)
LONGEST_DELAY = timedelta(hours=1)
MAX_FAILED_IN_SESSION = 5  # and the session that gave them ends
RECOVERY_CODES = 10
_TOTP_CODE = re.compile(r"[0-9]{6}")  # not \d, which matches any script's digits
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_CODE = re.compile(r"[a-z0-9]{10}")


@dataclass(frozen=True)
class Verdict:
    """What became of a second-factor answer: `ok`, or why not (`wrong`, `wait` with `retry_after`
    seconds, `locked`)."""

    outcome: str
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


OK, WRONG, LOCKED = Verdict("ok"), Verdict("wrong"), Verdict("locked")


def _key(key: bytes | None) -> bytes:
    return key if key is not None else secretbox.default_key()


def _epoch(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=timezone.utc).timestamp())


# --- the TOTP secret -------------------------------------------------------------------------------

def _purpose(user: StaffMember) -> str:
    return f"totp:{user.id}"


def store_secret(user: StaffMember, secret: str, key: bytes | None = None) -> None:
    """Keep `secret` sealed on the account (the row must have its id: flush first)."""
    user.totp_secret = secretbox.seal(_key(key), secret, _purpose(user))


def totp_secret(user: StaffMember, key: bytes | None = None) -> str | None:
    """The account's TOTP secret in the clear, or None. A secret from before encryption at rest is sealed
    now, and counts as confirmed (it was in use)."""
    stored = user.totp_secret
    if not stored:
        return None
    if not secretbox.is_sealed(stored):
        store_secret(user, stored, key)
        user.totp_confirmed_at = user.totp_confirmed_at or utcnow()
        return stored
    return secretbox.open_sealed(_key(key), stored, _purpose(user))


def has_totp(user: StaffMember) -> bool:
    """A confirmed authenticator app (an unconfirmed secret is an enrolment under way)."""
    return bool(user.totp_secret) and (user.totp_confirmed_at is not None or not secretbox.is_sealed(user.totp_secret))


def has_keys(session: Session, user: StaffMember) -> bool:
    return session.scalar(select(WebAuthnCredential.id).where(WebAuthnCredential.user_id == user.id).limit(1)) is not None


def has_factor(session: Session, user: StaffMember) -> bool:
    return has_totp(user) or has_keys(session, user)


# --- enrolment ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str  # a standalone SVG document
    qr_data_uri: str  # the same, for an <img> (the pages' CSP allows data: images)

    @property
    def grouped(self) -> str:
        """The secret in groups of four, as people type it into an app by hand."""
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))


def begin_totp(user: StaffMember, issuer: str, key: bytes | None = None) -> Enrolment:
    """A new secret for an account without a confirmed app (asked again, the same secret: reloading the
    page must not make the code the app already shows wrong)."""
    if has_totp(user):
        raise Conflict("An authenticator app is already set up for this account.")
    secret = totp_secret(user, key) if user.totp_secret else None
    if secret is None:
        secret = pyotp.random_base32(32)
        store_secret(user, secret, key)
        user.totp_confirmed_at, user.totp_last_step = None, None
    return describe(user, secret, issuer)


def describe(user: StaffMember, secret: str, issuer: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=5, title="QR code for your authenticator app")
    return Enrolment(secret=secret, uri=uri, qr_svg=svg,
                     qr_data_uri=qr.svg_data_uri(scale=5))


def confirm_totp(session: Session, login: LoginSession, user: StaffMember, code: str,
                 key: bytes | None = None, now: datetime | None = None) -> Verdict:
    """The first code from the new app finishes enrolment; it counts as the session's second factor."""
    if has_totp(user):
        raise Conflict("An authenticator app is already set up for this account.")
    if not user.totp_secret:
        raise Conflict("Start setting up the authenticator app first.")
    return verify_totp(session, login, user, code, key, now, enrolling=True)


# --- answers, counted --------------------------------------------------------------------------------

def _delayed(user: StaffMember, now: datetime) -> Verdict | None:
    if user.factor_delay_until and user.factor_delay_until > now:
        return Verdict("wait", max(1, int((user.factor_delay_until - now).total_seconds() + 0.999)))
    return None


def waiting(user: StaffMember, now: datetime) -> Verdict | None:
    """Why the account may not try its factor now (locked, or within its delay), or None."""
    return LOCKED if user.factor_locked else _delayed(user, now)


def failed(login: LoginSession | None, user: StaffMember, now: datetime) -> Verdict:
    """Count a wrong answer on the account (and the session); past the limits, delay then lock."""
    user.factor_failures = (user.factor_failures or 0) + 1
    if user.factor_failures >= FAILURES_BEFORE_DELAY:  # locked too: recovery codes are not guessed fast
        steps = min(user.factor_failures - FAILURES_BEFORE_DELAY, 12)
        user.factor_delay_until = now + min(FIRST_DELAY * 2 ** steps, LONGEST_DELAY)
    if user.factor_failures >= FAILURES_BEFORE_LOCK:
        user.factor_locked = True
    if login is not None:
        login.failed_second_factor += 1
        if login.failed_second_factor >= MAX_FAILED_IN_SESSION:
            login.ended_at = now
    return LOCKED if user.factor_locked else WRONG


def succeeded(login: LoginSession | None, user: StaffMember, now: datetime) -> Verdict:
    user.factor_failures, user.factor_delay_until = 0, None
    if login is not None:
        login.second_factor_at = now
        login.failed_second_factor = 0
    return OK


def verify_totp(session: Session, login: LoginSession | None, user: StaffMember, code, key: bytes | None = None,
                now: datetime | None = None, enrolling: bool = False) -> Verdict:
    """A TOTP code, accepted once (±1 step for clock drift), unless the account must wait or is locked."""
    now = now or utcnow()
    held = waiting(user, now)
    if held is not None:
        return held
    code = code.strip().replace(" ", "") if isinstance(code, str) else ""
    # Six ASCII digits, compared as bytes: str.isdigit() also passes '٠١٢٣٤٥' or fullwidth digits, and
    # compare_digest() raises on non-ASCII text. Anything else is a wrong code, counted like one.
    usable = _TOTP_CODE.fullmatch(code) is not None and (has_totp(user) or enrolling)
    secret = totp_secret(user, key) if usable and user.totp_secret else None
    if secret:
        totp, step_now = pyotp.TOTP(secret), _epoch(now) // 30
        for step in (step_now, step_now - 1, step_now + 1):
            if secrets.compare_digest(totp.at(step * 30).encode("ascii"), code.encode("ascii")):
                if user.totp_last_step is not None and step <= user.totp_last_step:
                    break  # replayed code
                user.totp_last_step = step
                if enrolling:
                    user.totp_confirmed_at = now
                return succeeded(login, user, now)
    return failed(login, user, now)


# --- recovery codes -----------------------------------------------------------------------------------

def _hash_code(code: str, salt: str) -> str:
    return f"{salt}${hashlib.sha256((salt + code).encode('ascii')).hexdigest()}"


def _normalise_code(code) -> str | None:
    code = code.strip().lower().replace(" ", "").replace("-", "") if isinstance(code, str) else ""
    return code if _RECOVERY_CODE.fullmatch(code) else None


def new_recovery_codes(session: Session, user: StaffMember) -> list[str]:
    """A fresh set of single-use codes (the old set stops working); shown once, only hashes kept."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(code, secrets.token_hex(8))))
    session.flush()
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def recovery_codes_left(session: Session, user: StaffMember) -> int:
    return len(session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                                             RecoveryCode.used_at.is_(None))).all())


def use_recovery_code(session: Session, login: LoginSession | None, user: StaffMember, code,
                      now: datetime | None = None) -> Verdict:
    """A recovery code instead of the usual factor, once. It clears a lock (that is what it is for), but
    a wrong one is counted like a wrong TOTP code, and the delay applies to it too."""
    now = now or utcnow()
    delayed = _delayed(user, now)
    if delayed is not None:
        return delayed
    given = _normalise_code(code)
    if given is not None:
        unused = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                            RecoveryCode.used_at.is_(None))
                                 .with_for_update()).all()
        for row in unused:
            salt = row.code_hash.split("$", 1)[0]
            if secrets.compare_digest(_hash_code(given, salt), row.code_hash):
                row.used_at = now
                user.factor_locked = False
                return succeeded(login, user, now)
    return failed(login, user, now)


# --- starting again ------------------------------------------------------------------------------------

def reset(session: Session, user: StaffMember, *, by_user_id: int | None = None, ip: str | None = None) -> None:
    """An administrator's reset: no app, no security keys, no recovery codes, no lock, and the member's
    sessions owe a second factor again; they set one up at their next sign-in. Audited here
    (`factor_reset` on the member, by `by_user_id`), so no caller can forget it."""
    user.totp_secret, user.totp_confirmed_at, user.totp_last_step = None, None, None
    user.factor_failures, user.factor_delay_until, user.factor_locked = 0, None, False
    session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
                    .values(second_factor_at=None, webauthn_challenge=None))
    session.flush()
    audit_trail.write(session, action="factor_reset", outcome="ok", user_id=by_user_id, school_id=user.school_id,
                      object_type="staff", object_id=user.id, ip=ip)
