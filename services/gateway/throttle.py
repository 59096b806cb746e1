"""Password guessing slowed per source address and per account, without letting a stranger lock anyone out.

Three kinds of row in `sign_in_throttle`, keyed so that an address nobody has an account for behaves
exactly like one somebody has (the answer never says whether an account exists):

- `ip:<address>`: ADDRESS_FAILURES wrong passwords from one address, each within WINDOW of the one
  before, and that address is refused for ADDRESS_BLOCK — whatever account it tries, right password or
  not. A flood from one place stops there.
- `account:<sha256 of the e-mail>`: after ACCOUNT_FREE_FAILURES wrong passwords (from anywhere, each
  within WINDOW of the one before) the account takes one try per delay, 30 s doubling up to
  LONGEST_ACCOUNT_DELAY. Tries during the delay are refused without being checked or counted, so a
  guesser cannot stretch it: once it has passed, the right password gets in.
- `known:<sha256 of e-mail and address>`: an address this account signed in from within KNOWN_FOR. The
  account's delay does not apply there, so a stranger guessing the DSL's password from elsewhere never
  keeps the DSL out at school or at home; only the address rule does (and it counts the stranger's
  address, not the DSL's).

And a browser that has signed in to an account before carries a signed `haven_device` cookie for it
(`device_cookie`; HMAC with the secrets key, KNOWN_FOR long): neither rule applies to that account from
that browser. Staff behind one school address (a pupil guessing there would block the address for
everyone) keep signing in from their own browsers; the guesser, without the cookie, is slowed.

A right password clears the address's count and marks the address known; it leaves the account's count
to run out, so signing in now and then gives a guesser no fresh tries. Rows that no longer matter (a
count a day old and not blocking, an address not signed in from for KNOWN_FOR) are pruned then too.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.common.db import utcnow

from .models import SignInThrottle

WINDOW = timedelta(minutes=15)
ADDRESS_FAILURES = 20
ADDRESS_BLOCK = timedelta(minutes=15)
ACCOUNT_FREE_FAILURES = 5
FIRST_ACCOUNT_DELAY = timedelta(seconds=30)
LONGEST_ACCOUNT_DELAY = timedelta(minutes=5)
KNOWN_FOR = timedelta(days=90)
MESSAGE = "Too many sign-in attempts. Wait {seconds} seconds, then try again."


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()


def _keys(email: str, ip: str | None) -> tuple[str, str, str]:
    email = email.strip().lower()
    address = ip or "unknown"
    return f"ip:{address}", f"account:{_digest(email)}", f"known:{_digest(email, address)}"


def _row(session: Session, key: str, now: datetime) -> SignInThrottle:
    """The row for `key`, locked for this transaction (made if new; two first failures at once do not
    collide on the primary key)."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(SignInThrottle).values(key=key, failures=0, window_start=now)
                        .on_conflict_do_nothing(index_elements=["key"]))
    row = session.scalar(select(SignInThrottle).where(SignInThrottle.key == key).with_for_update())
    if row is None:
        row = SignInThrottle(key=key, failures=0, window_start=now)
        session.add(row)
        session.flush()
    return row


def _peek(session: Session, key: str) -> SignInThrottle | None:
    return session.get(SignInThrottle, key)


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds() + 0.999))


DEVICE_COOKIE = "haven_device"
DEVICE_ACCOUNTS = 5  # accounts one browser remembers (a shared staff-room computer)


def _device_mac(key: bytes, email: str, issued: int) -> str:
    message = f"device|{email.strip().lower()}|{issued}".encode("utf-8", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _device_entries(cookie: str | None) -> list[tuple[str, int, str]]:
    entries = []
    for part in (cookie or "").split("~")[:DEVICE_ACCOUNTS]:
        fields = part.split(".")
        if len(fields) == 3 and fields[1].isdigit() and len(fields[1]) < 12:
            entries.append((fields[0], int(fields[1]), fields[2]))
    return entries


def trusted_device(key: bytes, email: str, cookie: str | None, now: float | None = None) -> bool:
    """This browser signed in to this account within KNOWN_FOR (its cookie says so, and we signed it)."""
    now = time.time() if now is None else now
    account = _digest("device", email.strip().lower())[:16]
    return any(who == account and now - issued <= KNOWN_FOR.total_seconds()
               and hmac.compare_digest(mac, _device_mac(key, email, issued))
               for who, issued, mac in _device_entries(cookie))


def device_cookie(key: bytes, email: str, cookie: str | None, now: float | None = None) -> str:
    """The cookie after a right password: this account's entry renewed, the others kept (newest first)."""
    issued = int(time.time() if now is None else now)
    account = _digest("device", email.strip().lower())[:16]
    others = [f"{w}.{i}.{m}" for w, i, m in _device_entries(cookie) if w != account]
    return "~".join([f"{account}.{issued}.{_device_mac(key, email, issued)}", *others][:DEVICE_ACCOUNTS])


def retry_after(session: Session, email: str, ip: str | None, now: datetime | None = None,
                trusted: bool = False) -> int | None:
    """Seconds this address must wait before trying this account again, or None to go ahead. `trusted`:
    the browser carries this account's device cookie, and neither rule applies."""
    if trusted:
        return None
    now = now or utcnow()
    address_key, account_key, known_key = _keys(email, ip)
    address = _peek(session, address_key)
    if address is not None and address.blocked_until and address.blocked_until > now:
        return _seconds(address.blocked_until, now)
    account = _peek(session, account_key)
    if account is not None and account.blocked_until and account.blocked_until > now:
        known = _peek(session, known_key)
        if known is None or now - known.window_start > KNOWN_FOR:
            return _seconds(account.blocked_until, now)
    return None


def _count(row: SignInThrottle, now: datetime) -> None:
    """One more failure; a failure more than WINDOW after the last starts the count again."""
    if now - row.window_start > WINDOW:
        row.failures = 0
    row.failures += 1
    row.window_start = now


def failed(session: Session, email: str, ip: str | None, now: datetime | None = None) -> None:
    now = now or utcnow()
    address_key, account_key, _known = _keys(email, ip)
    address = _row(session, address_key, now)
    _count(address, now)
    if address.failures >= ADDRESS_FAILURES:
        address.blocked_until, address.failures = now + ADDRESS_BLOCK, 0
    account = _row(session, account_key, now)
    _count(account, now)
    if account.failures >= ACCOUNT_FREE_FAILURES:
        steps = min(account.failures - ACCOUNT_FREE_FAILURES, 10)
        account.blocked_until = now + min(FIRST_ACCOUNT_DELAY * 2 ** steps, LONGEST_ACCOUNT_DELAY)


def succeeded(session: Session, email: str, ip: str | None, now: datetime | None = None) -> None:
    now = now or utcnow()
    address_key, _account, known_key = _keys(email, ip)
    address = _peek(session, address_key)
    if address is not None and not (address.blocked_until and address.blocked_until > now):
        address.failures = 0
    _row(session, known_key, now).window_start = now
    prune(session, now)


def prune(session: Session, now: datetime | None = None) -> None:
    """Forget counts that can no longer slow anyone, and addresses not signed in from for KNOWN_FOR."""
    now = now or utcnow()
    known = SignInThrottle.key.startswith("known:")
    session.execute(delete(SignInThrottle).where(or_(
        and_(known, SignInThrottle.window_start < now - KNOWN_FOR),
        and_(~known, SignInThrottle.window_start < now - timedelta(days=1),
             or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until < now)))))
