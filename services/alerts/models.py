"""The alerts service's tables: its copy of the staff directory, alerts, and the outgoing mail queue."""
from __future__ import annotations

from datetime import datetime

from datetime import date

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import utcnow
from services.common.spent import SpentTokenMixin
from services.common.events import ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class SpentToken(SpentTokenMixin, Base):
    """Actor contexts already accepted (services/common/spent.py): each is good for one call."""


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


# What an alert is about: an incident recorded (alert), an urgent one nobody opened (escalation), an action
# assigned (action) or due (reminder), an amendment to a record the recipient made (amendment), the tray.
ALERT_KINDS = ("alert", "escalation", "action", "reminder", "amendment", "tray")


class Alert(Base):
    """One member of staff alerted about one incident (or, for the DSL team, one online-monitoring
    alert waiting in the tray); `read_at` is the read receipt: when they first opened the incident."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_user_created", "user_id", "created_at"),
                      Index("ix_alerts_digest_pending", "school_id", postgresql_where=text("digest_pending"),
                            sqlite_where=text("digest_pending")))
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
    kind: Mapped[str] = mapped_column(String(20), default="alert")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    action_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Non-urgent, for someone who chose the daily digest: waits for it (then `digest_mail_id` is its e-mail).
    digest_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_mail_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class WatchedIncident(Base):
    """What the alerts service knows of an incident: who recorded it, whether the DSL team has opened it,
    and, for an urgent one nobody has opened, when it is next escalated."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_escalation_due", "next_escalation_at",
                            postgresql_where=text("next_escalation_at IS NOT NULL"),
                            sqlite_where=text("next_escalation_at IS NOT NULL")),
                      Index("ix_incidents_unopened", "school_id", postgresql_where=text("opened_at IS NULL"),
                            sqlite_where=text("opened_at IS NULL")))
    incident_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    school_id: Mapped[int] = mapped_column(Integer)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    category_names: Mapped[list] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Staff the record names: never alerted, never shown it here.
    excluded_user_ids: Mapped[list] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    opened_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Escalation(Base):
    """One step of an urgent incident's escalation: who it went to and when (shown on the incident)."""

    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    to_group: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime)
    recipients: Mapped[int] = mapped_column(Integer)


class Reminder(Base):
    """An action with a due date: its owner is reminded the day before and once it is overdue."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_open_due", "due_on", postgresql_where=text("completed_at IS NULL"),
                            sqlite_where=text("completed_at IS NULL")),)
    action_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    school_id: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    before_sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    overdue_sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Preference(Base):
    """How one member of staff at one school wants their non-urgent alert e-mails."""

    __tablename__ = "preferences"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    school_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)


class SchoolSettings(Base):
    """A school's alerting settings, once saved (until then, the contract's defaults:
    `domain.school_settings`)."""

    __tablename__ = "school_settings"
    school_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    escalate_after_minutes: Mapped[int] = mapped_column(Integer)
    digest_time: Mapped[str] = mapped_column(String(5))
    category_in_email: Mapped[bool] = mapped_column(Boolean)
    unactioned_after_days: Mapped[int] = mapped_column(Integer)


MAIL_PENDING, MAIL_SENT, MAIL_FAILED = "pending", "sent", "failed"


class Mail(Base):
    """An alert e-mail (or a daily digest of several) waiting to go, sent, or given up on. Its body never
    holds the pupil's story."""

    __tablename__ = "mail"
    __table_args__ = (Index("ix_mail_pending_due", "next_attempt_at", postgresql_where=text("status = 'pending'"),
                            sqlite_where=text("status = 'pending'")),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The alert it is for; None for a digest (its alerts point at it through `digest_mail_id`).
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True, nullable=True)
    alert: Mapped[Alert | None] = relationship(lazy="raise")
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    school_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    to_address: Mapped[str] = mapped_column(String(320))
    # Set once when queued and reused on every attempt: lets a mail client fold a duplicate.
    message_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When it was queued (or queued again from the failed list): retried with back-off until
    # `mail_give_up_after_seconds` past this, then failed.
    queued_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default=MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set while one sender holds it (see `mail_lease_seconds`); lapses if that sender dies mid-send.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
