"""The alerts service's tables: its copy of the staff directory, alerts, and the outgoing mail queue."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import utcnow
from services.common.events import ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class StaffMember(Base):
    """Our copy of a gateway staff account at one school, kept up to date from `gateway.staff_member_saved`.

    One entry per account and school: in a trust an account may hold roles at several schools (its home
    school and memberships), and is alerted at each with the roles it holds there."""

    __tablename__ = "staff"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    school_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the gateway saved the version we hold: an older event arriving late must not undo it.
    occurred_at: Mapped[datetime] = mapped_column(DateTime)


class Alert(Base):
    """One member of staff alerted about one incident (or, for the DSL team, one online-monitoring
    alert waiting in the tray); `read_at` is the read receipt."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_user_created", "user_id", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    tray_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int] = mapped_column(Integer)
    raised_by_user_id: Mapped[int] = mapped_column(Integer)
    raised_by_name: Mapped[str] = mapped_column(String(200))
    category_names: Mapped[list] = mapped_column(JSON, default=list)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


MAIL_PENDING, MAIL_SENT, MAIL_FAILED = "pending", "sent", "failed"


class Mail(Base):
    """An alert e-mail waiting to go, sent, or given up on. Its body never holds the pupil's story."""

    __tablename__ = "mail"
    __table_args__ = (Index("ix_mail_status_next_attempt", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    # Set once when queued and reused on every attempt: lets a mail client fold a duplicate.
    message_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
