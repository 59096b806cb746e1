"""The audit trail: every entry is chained to the one before it by hash, so an altered, removed,
inserted or reordered entry shows (`python -m services.gateway.audit verify`, `make audit-verify`).

Each entry stores `prev_hash` (the hash of the entry before it) and `hash` = SHA-256 over a canonical
encoding of `prev_hash` and every field an entry holds (`canonical`). Writers take turns: in
PostgreSQL the writing transaction takes an advisory lock, reads the last entry's hash and takes the
next id from the sequence, so ids follow the chain even with several gateway processes; the lock is
held until that transaction ends (write the entry last in a unit of work, so the lock is held
briefly). A transaction that rolls back leaves a gap in the ids but no break in the chain.

Entries written before the chain existed (migration b7e1c2d3a4f5) have no hash: the chain starts at
the first hashed entry, whose `prev_hash` is GENESIS. The chain alone cannot show that its newest
entries were cut off, nor a chain rewritten from some entry on by someone who recomputed every hash
after it (the hash has no secret): `verify` prints the head (the last entry's id and hash) to keep
elsewhere, and checks that a head given back to it (`--head`) is still in the log.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from services.common.db import contains_pattern, make_engine, session_factory, utcnow

from .models import AuditEntry, StaffMember
from .settings import GatewaySettings

GENESIS = "0" * 64
REPORTED_PROBLEMS = 100  # breaks printed by the command (all are in Verification.problems)
# pg_advisory_xact_lock key: any constant no other part of Haven uses ("AUDIT" in ASCII).
AUDIT_LOCK = 0x4155444954
_NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")
# The actions written during the current request (write_audit.py asks whether a use case has
# already written one, so a write is not logged twice). A list, so threads the request's database work
# runs in (each with a copy of the context) add to the same one.
_request_actions: ContextVar[list | None] = ContextVar("haven_audit_request_actions", default=None)
FIELDS = ("id", "at", "school_id", "user_id", "action", "object_type", "object_id", "outcome", "ip",
          "email", "detail", "pupil_id")


def _text(value, limit: int) -> str | None:
    """A value the column can hold: a too-long or unencodable one (a sign-in may try anything as an
    address) is cut rather than failing the write it records."""
    if value is None:
        return None
    return _NOT_STORABLE.sub("\ufffd", str(value))[:limit]


def _int(value) -> int | None:
    return None if value is None else int(value)


def canonical(prev_hash: str, entry: AuditEntry) -> bytes:
    """The bytes an entry's hash is taken over: JSON of a fixed list, ASCII only, no spaces, the time
    to the microsecond (what PostgreSQL keeps), so the same entry read back encodes the same."""
    at = entry.at.isoformat(timespec="microseconds") if isinstance(entry.at, datetime) else entry.at
    values = [prev_hash, entry.id, at] + [getattr(entry, f) for f in FIELDS[2:]]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(canonical(prev_hash, entry)).hexdigest()


def _take_turn(session: Session) -> tuple[str, int]:
    """Wait for any other writer's transaction to end, then read where the chain stands: the last
    hash and (PostgreSQL) the id the new entry takes."""
    last = (select(AuditEntry.hash).where(AuditEntry.hash.is_not(None)).order_by(AuditEntry.id.desc())
            .limit(1).scalar_subquery())
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
        # A statement of its own, after the lock: its snapshot then holds the last writer's entry.
        next_id = func.nextval(func.pg_get_serial_sequence("audit_log", "id"))
    else:  # SQLite: one writer at a time anyway
        next_id = func.coalesce(select(func.max(AuditEntry.id)).scalar_subquery(), 0) + 1
    last_hash, new_id = session.execute(select(last, next_id)).one()
    return last_hash or GENESIS, new_id


def write(session: Session, *, action: str, outcome: str, user_id: int | None = None,
          school_id: int | None = None, object_type: str | None = None, object_id=None,
          ip: str | None = None, email: str | None = None, detail: str | None = None,
          pupil_id: int | None = None) -> AuditEntry:
    """Add one entry to the chain, in the caller's transaction (it is written if and only if that
    commits). Never a record's text in `detail`: ids and names only."""
    prev_hash, next_id = _take_turn(session)
    entry = AuditEntry(id=next_id, at=utcnow(), school_id=_int(school_id), user_id=_int(user_id),
                       action=_text(action, 60), object_type=_text(object_type, 40),
                       object_id=_text(object_id, 64), outcome=_text(outcome, 20), ip=_text(ip, 45),
                       email=_text(email, 254), detail=_text(detail, 300), pupil_id=_int(pupil_id),
                       prev_hash=prev_hash)
    entry.hash = entry_hash(prev_hash, entry)
    session.add(entry)
    session.flush()  # the next writer in this transaction must see this entry as the last
    written = _request_actions.get()
    if written is not None:
        written.append(entry.action)
    return entry


def track_request():
    """Start noting the actions written during a request: (the list, a token for `untrack`)."""
    written: list = []
    return written, _request_actions.set(written)


def untrack(token) -> None:
    _request_actions.reset(token)


# --- verifying the chain --------------------------------------------------------------------------

@dataclass
class Verification:
    """What `verify` found: how many entries it checked, where the chain ends, and every break."""

    checked: int = 0
    unhashed: int = 0  # entries from before the chain existed
    head_id: int | None = None
    head_hash: str | None = None
    problems: list[tuple[int | None, str]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_break(self) -> int | None:
        return self.problems[0][0] if self.problems else None


def _link_problem(entry, prev_id: int | None, prev_hash: str) -> str | None:
    if entry.prev_hash == prev_hash:
        return None
    if prev_id is None:
        return (f"entry {entry.id} is the first with a hash but does not start the chain: "
                "entries before it were removed")
    if entry.id != prev_id + 1:
        return (f"entry {entry.id} does not follow entry {prev_id}: the entries between them were "
                "removed (or it was inserted)")
    return f"entry {entry.id} does not follow entry {prev_id}: an entry was inserted or the order changed"


def verify(session: Session, expected_head: str | None = None, batch: int = 2000) -> Verification:
    """Read the whole log in id order and check every entry's hash and its link to the entry before.

    An altered entry fails its own hash; a removed one leaves a gap in the ids *and* a broken link (a
    gap alone is a transaction that rolled back); an inserted or reordered one breaks a link. Cutting
    off the newest entries leaves a valid chain: only a head kept from an earlier run
    (`expected_head`) shows it."""
    found = Verification()
    prev_id, prev_hash, seen_expected = None, GENESIS, expected_head is None
    last_id = 0
    while True:
        # Plain rows, not the session's objects: what the database holds now, whatever was loaded before.
        rows = session.execute(select(*AuditEntry.__table__.columns).where(AuditEntry.id > last_id)
                               .order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            break
        for entry in rows:
            last_id = entry.id
            if entry.hash is None and prev_id is None:
                found.unhashed += 1  # before the chain began
                continue
            found.checked += 1
            if entry.hash is None:
                found.problems.append((entry.id, f"entry {entry.id} has no hash: it was not written by Haven"))
            elif entry_hash(entry.prev_hash or "", entry) != entry.hash:
                found.problems.append((entry.id, f"entry {entry.id} was altered: its hash does not match "
                                                 "what it holds"))
            problem = _link_problem(entry, prev_id, prev_hash)
            if problem:
                found.problems.append((entry.id, problem))
            prev_id, prev_hash = entry.id, entry.hash or ""
            seen_expected = seen_expected or entry.hash == expected_head
    found.head_id, found.head_hash = prev_id, (prev_hash if prev_id is not None else None)
    if not seen_expected:
        found.problems.append((None, f"no entry has the head hash {expected_head}: the log was cut short "
                                     "or rewritten since that head was noted"))
    return found


def report(found: Verification) -> str:
    lines = [f"checked {found.checked} entries" + (f" ({found.unhashed} older entries before the chain "
                                                   "began, not checked)" if found.unhashed else "")]
    lines += [f"BROKEN: {problem}" for _, problem in found.problems[:REPORTED_PROBLEMS]]
    if len(found.problems) > REPORTED_PROBLEMS:
        lines.append(f"… and {len(found.problems) - REPORTED_PROBLEMS} more breaks")
    if found.head_id is not None:
        lines.append(f"head: entry {found.head_id} {found.head_hash} (keep this to check later with --head)")
    lines.append("the chain is intact" if found.intact else f"the chain breaks at entry {found.first_break}")
    return "\n".join(lines)


# --- searching ------------------------------------------------------------------------------------

COUNT_UP_TO = 10_000


def search(session: Session, school_id: int, *, user_id: int | None = None, action: str | None = None,
           object_type: str | None = None, object_id: str | None = None, pupil_id: int | None = None,
           outcome: str | None = None, since: datetime | None = None, until: datetime | None = None,
           limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """One school's entries, newest first, with the staff member's name: (page, total matching, counted
    up to COUNT_UP_TO + 1).
    `outcome` "refused" matches every refusal (refused:401, refused:403…)."""
    query = select(AuditEntry, StaffMember.name).outerjoin(StaffMember, StaffMember.id == AuditEntry.user_id)
    query = query.where(AuditEntry.school_id == school_id)
    for name, value in (("user_id", user_id), ("action", action), ("object_type", object_type),
                        ("object_id", object_id), ("pupil_id", pupil_id)):
        if value is not None:
            query = query.where(getattr(AuditEntry, name) == value)
    if outcome is not None:
        literal = contains_pattern(outcome)[1:-1]  # the word itself, its % and _ escaped
        query = query.where(or_(AuditEntry.outcome == outcome, AuditEntry.outcome.like(literal + ":%", escape="\\")))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    # Counted only so far (a whole year of a school's log is millions of entries): "more than" beyond.
    total = session.scalar(select(func.count()).select_from(query.limit(COUNT_UP_TO + 1).subquery()))
    rows = session.execute(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return [_view(entry, name) for entry, name in rows], total


def _view(entry: AuditEntry, name: str | None) -> dict:
    return {"id": entry.id, "at": entry.at.isoformat(timespec="seconds") + "Z", "user_id": entry.user_id,
            "name": name, "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "outcome": entry.outcome, "ip": entry.ip, "email": entry.email,
            "detail": entry.detail, "pupil_id": entry.pupil_id}


# --- the command ------------------------------------------------------------------------------------

class _LogLocation(BaseSettings):
    """Where the gateway's database is, read as the gateway reads it (HAVEN_GATEWAY_DATABASE_URL or .env),
    without the gateway's other settings: checking the log needs no secrets."""

    model_config = SettingsConfigDict(env_prefix="HAVEN_", env_file=".env", extra="ignore")
    gateway_database_url: str = GatewaySettings.model_fields["gateway_database_url"].default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway.audit",
                                     description="Check the gateway's audit log has not been altered.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check every entry's hash and link; exit 1 if the chain is broken, "
                                               "2 if the log cannot be read")
    check.add_argument("--head", help="a head hash printed by an earlier run: fails if the log no longer holds it")
    check.add_argument("--database-url", help="the gateway's database (default: HAVEN_GATEWAY_DATABASE_URL)")
    args = parser.parse_args(argv)
    url = args.database_url or _LogLocation().gateway_database_url
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with session_factory(engine)() as session:
            found = verify(session, expected_head=args.head)
    except SQLAlchemyError as exc:  # no database there, or not migrated: not a verdict on the chain
        print(f"could not read the audit log: {type(getattr(exc, 'orig', exc)).__name__}: "
              f"{str(getattr(exc, 'orig', exc)).splitlines()[0][:200]}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(report(found))
    return 0 if found.intact else 1


if __name__ == "__main__":
    sys.exit(main())
