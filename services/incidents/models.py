"""The incidents service's tables: schools, the roll, categories, incidents and the outbox."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.contracts.incidents import (  # noqa: F401  (the word lists the columns hold)
    CASE_STATUSES, DECISION_TYPES, ENTRY_TYPES, FLAGS, LINK_ROLES, MARK_TYPES, OUTCOME_TYPES, RECORD_TYPES,
    SEN_STATUSES, SENSITIVITIES, SEVERITIES, TRAY_STATUSES)
from services.common.db import utcnow
from services.common.spent import SpentTokenMixin
from services.common.events import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    # Named constraints, so a later migration can alter them (SQLite rebuilds tables to do so).
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"})


class SpentToken(SpentTokenMixin, Base):
    """Actor contexts already accepted (services/common/spent.py): each is good for one call."""


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    """Events from other services already handled (consumers are idempotent on event_id)."""


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # A fresh random token whenever any of the school's pupils changes (search.py keeps it up to
    # date): the pupil picker's in-memory index is rebuilt when it no longer matches.
    roll_version: Mapped[str] = mapped_column(String(32), default="")


class Pupil(Base):
    __tablename__ = "pupils"
    __table_args__ = (UniqueConstraint("school_id", "upn"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    upn: Mapped[str] = mapped_column(String(13))
    legal_forename: Mapped[str] = mapped_column(String(100))
    legal_surname: Mapped[str] = mapped_column(String(100))
    preferred_forename: Mapped[str | None] = mapped_column(String(100), nullable=True)
    preferred_surname: Mapped[str | None] = mapped_column(String(100), nullable=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)  # M, F or X as in the CTF
    year_group: Mapped[str] = mapped_column(String(20))
    form: Mapped[str | None] = mapped_column(String(20), nullable=True)
    on_roll: Mapped[bool] = mapped_column(Boolean, default=True)
    admission_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    leaving_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Flags the school keeps; see FLAGS.
    cp_plan: Mapped[bool] = mapped_column(Boolean, default=False)
    child_in_need: Mapped[bool] = mapped_column(Boolean, default=False)
    looked_after: Mapped[bool] = mapped_column(Boolean, default=False)
    previously_looked_after: Mapped[bool] = mapped_column(Boolean, default=False)
    early_help: Mapped[bool] = mapped_column(Boolean, default=False)
    sen_status: Mapped[str] = mapped_column(String(12), default="none")  # none, sen_support, ehcp
    eal: Mapped[bool] = mapped_column(Boolean, default=False)
    free_school_meals: Mapped[bool] = mapped_column(Boolean, default=False)
    # Staff who are this pupil's parent or carer (self-exclusion): loaded only when asked for.
    staff_relatives: Mapped[list["StaffRelative"]] = relationship(lazy="select", order_by="StaffRelative.user_id",
                                                                  cascade="all, delete-orphan")

    @property
    def staff_relative_ids(self) -> list[int]:
        return [r.user_id for r in self.staff_relatives]

    @property
    def name(self) -> str:
        return f"{self.preferred_forename or self.legal_forename} {self.preferred_surname or self.legal_surname}"

    @property
    def legal_name(self) -> str:
        return f"{self.legal_forename} {self.legal_surname}"

    @property
    def initials(self) -> str:
        return "".join(part[0].upper() for part in self.name.split() if part)


class PupilLink(Base):
    """A family link between two pupils on the roll, stored once each way (so "add siblings" is a lookup)."""

    __tablename__ = "pupil_links"
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), primary_key=True)
    related_pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), primary_key=True)
    relationship: Mapped[str] = mapped_column(String(30), default="sibling")


class HouseholdMember(Base):
    """A parent, carer or other adult in the pupil's household (front sheet)."""

    __tablename__ = "household_members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(60))
    parental_responsibility: Mapped[bool] = mapped_column(Boolean, default=False)
    lives_with_pupil: Mapped[bool] = mapped_column(Boolean, default=True)
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AgencyInvolvement(Base):
    """An agency working with the pupil (children's social care, CAMHS, early help…) (front sheet)."""

    __tablename__ = "agency_involvements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    agency: Mapped[str] = mapped_column(String(120))
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    recorded_by: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    sensitivity: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    default_alert_groups: Mapped[list] = mapped_column(JSON, default=list)
    default_alert_user_ids: Mapped[list] = mapped_column(JSON, default=list)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), nullable=True)
    colour: Mapped[str] = mapped_column(String(7), default="#5b6770")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("school_id", "recorded_by", "client_token", name="uq_incidents_client_token"),
                      # The DSL's dashboard: what came in this week and this term, what waits.
                      Index("ix_incidents_school_recorded", "school_id", "recorded_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recorded_by: Mapped[int] = mapped_column(Integer, index=True)
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    account: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # What is being recorded (RECORD_TYPES), where, the child's own words, who else was there.
    record_type: Mapped[str] = mapped_column(String(40), default="observation")
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    childs_words: Mapped[str | None] = mapped_column(Text, nullable=True)
    others_present: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_by_role: Mapped[str | None] = mapped_column(String(100), nullable=True)
    dsl_informed_verbally: Mapped[bool] = mapped_column(Boolean, default=False)
    dsl_informed_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dsl_informed_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="staff")  # staff or tray
    # The form's (or API client's) token for this submission: a double click or a retry after a
    # time-out returns the incident already saved instead of recording it twice.
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Restricted by the DSL team to the DSL team alone (e.g. an allegation about a member of staff):
    # then not even its recorder reads it. Who restricted it, when and why are kept beside it.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    restricted_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    restricted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    pupil: Mapped[Pupil] = relationship(lazy="joined")
    categories: Mapped[list[Category]] = relationship(secondary="incident_categories", lazy="selectin")
    alerts: Mapped[list["IncidentAlert"]] = relationship(lazy="selectin")
    linked_pupils: Mapped[list["LinkedPupil"]] = relationship(lazy="selectin")
    marks: Mapped[list["BodyMapMark"]] = relationship(lazy="selectin", order_by="BodyMapMark.id")
    amendments: Mapped[list["Amendment"]] = relationship(lazy="selectin", order_by="Amendment.id")
    # Actions are read only where a rule needs them (was a reader assigned one?).
    actions: Mapped[list["Action"]] = relationship(lazy="select", viewonly=True, order_by="Action.id")
    exclusions: Mapped[list["IncidentExclusion"]] = relationship(lazy="selectin", order_by="IncidentExclusion.user_id",
                                                                 cascade="all, delete-orphan")
    # The DSL team's one-line summary, read only for the DSL team's view of the record.
    dsl_summary: Mapped["IncidentSummary | None"] = relationship(lazy="select", viewonly=True)

    @property
    def excluded_staff_ids(self) -> list[int]:
        """Staff the record is about (an allegation or low-level concern about an adult): hidden from them."""
        return [e.user_id for e in self.exclusions]


class IncidentSummary(Base):
    """The DSL team's one-line summary of an incident, shown on its chronology lines instead of the
    account's opening words. DSL metadata beside the record, not a correction of it: the incident row
    and its account are untouched (DESIGN rule 6), so it lives in its own table."""

    __tablename__ = "incident_summaries"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    summary: Mapped[str] = mapped_column(String(300))
    set_by: Mapped[int] = mapped_column(Integer)
    set_by_name: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class IncidentExclusion(Base):
    """A member of staff a record names as the adult it is about: the record is hidden from them, whatever
    their role (self-exclusion)."""

    __tablename__ = "incident_exclusions"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class StaffRelative(Base):
    """A member of staff who is the pupil's parent or carer: the pupil's records are hidden from them."""

    __tablename__ = "pupil_staff_relatives"
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class LinkedPupil(Base):
    """Another pupil involved, with their role in this incident only."""

    __tablename__ = "linked_pupils"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(30))
    pupil: Mapped[Pupil] = relationship(lazy="joined")


class BodyMapMark(Base):
    """A mark on the body map: position as fractions of the outline's box (0–1), on the front or back."""

    __tablename__ = "body_map_marks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    side: Mapped[str] = mapped_column(String(5))  # front or back
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    mark_type: Mapped[str] = mapped_column(String(20))
    colour: Mapped[str | None] = mapped_column(String(60), nullable=True)
    shape: Mapped[str | None] = mapped_column(String(60), nullable=True)
    size: Mapped[str | None] = mapped_column(String(60), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class Amendment(Base):
    """A correction to a saved incident: the original stays; this says what changed, who, when, why."""

    __tablename__ = "amendments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    new_value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Action(Base):
    """Something done or to be done about an incident, optionally assigned with a due date."""

    __tablename__ = "actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    taken_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    assigned_to: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    assigned_to_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[int] = mapped_column(Integer)
    created_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completed_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    completion_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Decision(Base):
    """A decision and its reasons. A decision not to refer must say why."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    decision_type: Mapped[str] = mapped_column(String(40))
    agency: Mapped[str | None] = mapped_column(String(120), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(120), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[int] = mapped_column(Integer)
    decided_by_name: Mapped[str] = mapped_column(String(200))


class Outcome(Base):
    __tablename__ = "outcomes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    outcome_type: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recorded_by: Mapped[int] = mapped_column(Integer)
    recorded_by_name: Mapped[str] = mapped_column(String(200))


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(Integer)
    owner_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    incidents: Mapped[list[Incident]] = relationship(secondary="case_incidents", lazy="selectin")


class CaseIncident(Base):
    __tablename__ = "case_incidents"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)


class CaseEvent(Base):
    """The case's history: opened, incident added, owner or status changed — who, when and why."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    what: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why the status changed
    by_id: Mapped[int] = mapped_column(Integer)
    by_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ChronologyEntry(Base):
    """One line of a pupil's chronology, written with the record it points at (so reading a
    chronology of thousands of entries is one indexed query, not a join over every table)."""

    __tablename__ = "chronology"
    __table_args__ = (Index("ix_chronology_pupil_when", "pupil_id", "occurred_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"))
    entry_type: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    title: Mapped[str] = mapped_column(String(300))
    category_ids: Mapped[list] = mapped_column(JSON, default=list)
    sensitivities: Mapped[list] = mapped_column(JSON, default=list)
    role: Mapped[str | None] = mapped_column(String(30), nullable=True)  # a linked pupil's role
    significant: Mapped[bool] = mapped_column(Boolean, default=False)
    significant_set_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    significant_set_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The line as the API sends it (JSON, less its opening brace and id), rewritten by chronology.py's
    # hook whenever the ORM saves the row, so reading thousands of lines joins text rather than
    # building it. NULL (e.g. a row written with plain SQL): built from the columns when read. So
    # change these rows through the ORM, or set `line` to NULL in the same statement.
    line: Mapped[str | None] = mapped_column(Text, nullable=True)
    # For the DSL team only, on an incident's own line (chronology/details.py): the DSL's summary or the
    # account's opening words, who recorded it, its latest outcome's label. Not part of `line`, which
    # every reader gets; kept up to date by details.refresh.
    excerpt: Mapped[str | None] = mapped_column(String(300), nullable=True)
    recorded_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(100), nullable=True)


class TrayItem(Base):
    """An alert posted by an online-safety monitoring system, waiting for the DSL."""

    __tablename__ = "tray_items"
    __table_args__ = (UniqueConstraint("integration_id", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    integration_id: Mapped[int] = mapped_column(Integer)
    integration_name: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(120))
    pupil_identifier: Mapped[str] = mapped_column(String(120))
    matched_pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupils.id"), nullable=True)
    severity: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    dismissed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    handled_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    handled_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


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
