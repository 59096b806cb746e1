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
entries were cut off: `verify` prints the head (last hash and count) to keep elsewhere, and checks
a head given back to it (`--head`).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.common.db import utcnow

from .models import AuditEntry

GENESIS = "0" * 64
# pg_advisory_xact_lock key: any constant no other part of Haven uses ("AUDIT" in ASCII).
AUDIT_LOCK = 0x4155444954
_NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")
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


def _take_turn(session: Session) -> tuple[str, int | None]:
    """Wait for any other writer's transaction to end, then read where the chain stands: the last
    hash and (PostgreSQL) the id the new entry takes."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    last = session.scalar(select(AuditEntry.hash).where(AuditEntry.hash.is_not(None))
                          .order_by(AuditEntry.id.desc()).limit(1))
    if postgres:
        next_id = session.scalar(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))"))
    else:  # SQLite: one writer at a time anyway
        next_id = (session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0) + 1
    return last or GENESIS, next_id


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
    return entry
