"""The gateway's tables: staff accounts, sessions, the audit log, integrations and the outbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import utcnow
from services.common.events import OutboxMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class StaffMember(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    job_title: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The TOTP secret, encrypted at rest (secretbox.py); confirmed once the first code is given.
    totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The last TOTP time-step accepted: a code is good once (no replay within its window).
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Wrong second-factor codes, counted across sessions; past the limit the factor is locked until an
    # administrator or a recovery code clears it.
    factor_failures: Mapped[int] = mapped_column(Integer, default=0)
    factor_delay_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    factor_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, nullable=True)


class School(Base):
    """A school on this Haven (the incidents service keeps its own row of the same id)."""

    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    urn: Mapped[str | None] = mapped_column(String(10), unique=True, nullable=True)
    local_authority: Mapped[str | None] = mapped_column(String(120), nullable=True)
    trust: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Membership(Base):
    """An account's roles at a school of its trust other than its home school (staff.school_id and
    staff.roles stay the home school's). The session's current school decides which roles apply."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "school_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    job_title: Mapped[str | None] = mapped_column(String(100), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class StaffGroup(Base):
    """A group the school defines (SENCO, first-aid lead, pastoral leads…): its members read and record
    in its categories, optionally for some year groups only (None: all)."""

    __tablename__ = "staff_groups"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100))
    category_ids: Mapped[list] = mapped_column(JSON, default=list)
    year_groups: Mapped[list | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("staff_groups.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True, index=True)


class RecoveryCode(Base):
    """A single-use recovery code (only its hash is kept)."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WebAuthnCredential(Base):
    """A security key or passkey registered to an account."""

    __tablename__ = "webauthn_credentials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    transports: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SignInThrottle(Base):
    """Failed sign-ins counted per source address and per account (slowed, never locked for good)."""

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # "ip:…" or "account:…"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AccountLink(Base):
    """A single-use, expiring link e-mailed to a member of staff (set a password). Only its hash is kept."""

    __tablename__ = "account_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="set_password")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SavedSubmission(Base):
    """A form sent after its session ended, kept (encrypted) for the same member of staff until they
    sign in again, then given back to them: nothing written is lost to a time-out."""

    __tablename__ = "saved_submissions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token in the link
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    path: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # encrypted (secretbox.py)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class LoginSession(Base):
    __tablename__ = "sessions"
    # sha256 of the cookie value: a copy of this table cannot be replayed as cookies.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    second_factor_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    failed_second_factor: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # A WebAuthn ceremony's challenge, waiting for the browser's answer (base64url).
    webauthn_challenge: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The school the session is working in (a membership's); None: the account's home school.
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AuditEntry(Base):
    """Append-only: who did what to which record, when, and whether it was allowed. Each entry holds
    the hash of the one before (audit.py); in PostgreSQL a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # the account a sign-in tried
    detail: Mapped[str | None] = mapped_column(String(300), nullable=True)  # ids and names, never record text
    pupil_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Integration(Base):
    """An online-safety monitoring system allowed to post alerts to the school's incident tray.

    Only the SHA-256 of its API key is kept (the key is shown once, when it is made), with the
    key's first characters so the DSL can tell keys apart. Revoked, never deleted.
    """

    __tablename__ = "integrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
