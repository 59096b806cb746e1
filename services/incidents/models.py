"""The incidents service's tables: schools, the roll, categories, incidents and the outbox."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import utcnow
from services.common.events import OutboxMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Pupil(Base):
    __tablename__ = "pupils"
    __table_args__ = (UniqueConstraint("school_id", "upn"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    upn: Mapped[str] = mapped_column(String(13))
    legal_forename: Mapped[str] = mapped_column(String(100))
    legal_surname: Mapped[str] = mapped_column(String(100))
    preferred_forename: Mapped[str | None] = mapped_column(String(100), nullable=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    year_group: Mapped[str] = mapped_column(String(20))
    form: Mapped[str | None] = mapped_column(String(20), nullable=True)
    on_roll: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def name(self) -> str:
        return f"{self.preferred_forename or self.legal_forename} {self.legal_surname}"


# A category's sensitivity decides who may read records in it (see policy.py).
SENSITIVITIES = ("safeguarding", "pastoral", "behaviour", "medical", "sen")


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    sensitivity: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    default_alert_groups: Mapped[list] = mapped_column(JSON, default=list)


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recorded_by: Mapped[int] = mapped_column(Integer, index=True)
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    account: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    pupil: Mapped[Pupil] = relationship(lazy="joined")
    categories: Mapped[list[Category]] = relationship(secondary="incident_categories", lazy="selectin")
    alerts: Mapped[list["IncidentAlert"]] = relationship(lazy="selectin")


class IncidentCategory(Base):
    __tablename__ = "incident_categories"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True)


class IncidentAlert(Base):
    """Who the recorder asked to alert: a named member of staff or a group such as the DSL team."""

    __tablename__ = "incident_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    group: Mapped[str | None] = mapped_column(String(40), nullable=True)
