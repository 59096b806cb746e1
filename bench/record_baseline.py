"""The yardstick for recording an incident: one FastAPI + SQLAlchemy process doing the same work as
Haven's record path, with no bus and no second process.

    .venv/bin/python bench/record_baseline.py --database-url postgresql://… --port 8123

POST /api/v1/incidents, as Haven's gateway and incidents service do between them: find the session
by its cookie (the SHA-256 of the cookie is the key, as in Haven) and its member of staff, check the
CSRF header, validate the body with pydantic, check the pupil and the categories belong to the
school, then write the incident, its categories, its alert groups, the pupil's chronology line and
the outbox row in one transaction, and answer 201 with the incident as JSON. `bench/record_path.py`
starts it, seeds it and times it beside Haven; `create_schema` and `seed` are used from there.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import uuid
from datetime import datetime, timezone

from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

SESSION_COOKIE = "haven_session"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    job_title: Mapped[str | None] = mapped_column(String(100), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class LoginSession(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Pupil(Base):
    __tablename__ = "pupils"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    on_roll: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100))
    sensitivity: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    default_alert_groups: Mapped[list] = mapped_column(JSON, default=list)


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recorded_by: Mapped[int] = mapped_column(Integer, index=True)
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    recorded_by_role: Mapped[str | None] = mapped_column(String(100), nullable=True)
    account: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    record_type: Mapped[str] = mapped_column(String(40), default="observation")
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    childs_words: Mapped[str | None] = mapped_column(Text, nullable=True)
    others_present: Mapped[str | None] = mapped_column(Text, nullable=True)


class IncidentCategory(Base):
    __tablename__ = "incident_categories"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True)


class IncidentAlert(Base):
    __tablename__ = "incident_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    group: Mapped[str | None] = mapped_column(String(40), nullable=True)


class ChronologyEntry(Base):
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


class OutboxEvent(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class IncidentIn(BaseModel):
    pupil_id: int = Field(ge=1, le=2**63 - 1)
    occurred_at: datetime
    account: str = Field(min_length=1, max_length=50_000)
    category_ids: list[int] = Field(min_length=1, max_length=50)
    alert_user_ids: list[int] = Field(default_factory=list, max_length=200)
    alert_groups: list[str] = Field(default_factory=list, max_length=10)
    urgent: bool = False
    record_type: str = "observation"
    location: str | None = Field(None, max_length=200)
    childs_words: str | None = Field(None, max_length=20_000)
    others_present: str | None = Field(None, max_length=2_000)


def engine_for(url: str):
    url = url.replace("postgresql://", "postgresql+pg8000://", 1)
    return create_engine(url, pool_size=10, max_overflow=10)


def create_schema(url: str) -> None:
    engine = engine_for(url)
    Base.metadata.create_all(engine)
    engine.dispose()


def seed(url: str, school_id: int = 1) -> tuple[str, str, dict[str, int], list[int]]:
    """A school with a teacher signed in, 40 pupils and Haven's ten categories.
    Returns (cookie value, CSRF token, category ids by name, pupil ids)."""
    engine = engine_for(url)
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    categories = [("Safeguarding", "safeguarding", ["dsl"]), ("Behaviour", "behaviour", ["slt"]),
                  ("Attendance", "pastoral", ["slt"]), ("Medical", "medical", []), ("SEN", "sen", []),
                  ("Bullying", "behaviour", ["slt"]), ("Online safety", "safeguarding", ["dsl"]),
                  ("Parental contact", "pastoral", []), ("Neglect", "safeguarding", ["dsl"]),
                  ("Physical abuse", "safeguarding", ["dsl"])]
    with Session(engine) as session, session.begin():
        teacher = Staff(school_id=school_id, name="Tom Archer", roles=["staff"], job_title="Class Teacher, Year 4")
        session.add(teacher)
        session.flush()
        session.add(LoginSession(token_hash=hashlib.sha256(cookie.encode()).hexdigest(), user_id=teacher.id,
                                 csrf_token=csrf))
        pupils = [Pupil(school_id=school_id, name=f"Pupil {n}") for n in range(40)]
        cats = [Category(school_id=school_id, name=n, sensitivity=s, default_alert_groups=g) for n, s, g in categories]
        session.add_all(pupils + cats)
        session.flush()
        ids = {c.name: c.id for c in cats}
        pupil_ids = [p.id for p in pupils]
    engine.dispose()
    return cookie, csrf, ids, pupil_ids


def create_app(url: str) -> FastAPI:
    engine = engine_for(url)
    app = FastAPI()

    @app.post("/api/v1/incidents", status_code=201)
    def record_incident(body: IncidentIn, request: Request, x_csrf_token: str | None = Header(None)):
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise HTTPException(401, "Please sign in.")
        now = utcnow()
        with Session(engine, expire_on_commit=False) as session, session.begin():
            found = session.execute(select(LoginSession, Staff).join(Staff, Staff.id == LoginSession.user_id)
                                    .where(LoginSession.token_hash == hashlib.sha256(token.encode()).hexdigest())
                                    ).first()
            if found is None or found[0].ended_at is not None or not found[1].active:
                raise HTTPException(401, "Please sign in.")
            login, user = found
            if not x_csrf_token or not secrets.compare_digest(x_csrf_token, login.csrf_token):
                raise HTTPException(403, "CSRF token missing.")
            login.last_seen_at = now
            occurred_at = body.occurred_at.astimezone(timezone.utc).replace(tzinfo=None) \
                if body.occurred_at.tzinfo else body.occurred_at
            if occurred_at > now:
                raise HTTPException(422, "occurred_at is in the future")
            pupil = session.get(Pupil, body.pupil_id)
            if pupil is None or pupil.school_id != user.school_id or not pupil.on_roll:
                raise HTTPException(422, "pupil_id")
            categories = session.scalars(select(Category).where(
                Category.id.in_(body.category_ids), Category.school_id == user.school_id,
                Category.active.is_(True))).all()
            if len(categories) != len(set(body.category_ids)):
                raise HTTPException(422, "category_ids")
            groups = list(dict.fromkeys([*body.alert_groups, *(g for c in categories for g in c.default_alert_groups)]))
            incident = Incident(school_id=user.school_id, pupil_id=pupil.id, occurred_at=occurred_at,
                                recorded_at=now, recorded_by=user.id, recorded_by_name=user.name,
                                recorded_by_role=user.job_title, account=body.account.strip(), urgent=body.urgent,
                                record_type=body.record_type, location=body.location,
                                childs_words=body.childs_words, others_present=body.others_present)
            session.add(incident)
            session.flush()
            session.add_all([IncidentCategory(incident_id=incident.id, category_id=c.id) for c in categories])
            session.add_all([IncidentAlert(incident_id=incident.id, user_id=u) for u in body.alert_user_ids])
            session.add_all([IncidentAlert(incident_id=incident.id, group=g) for g in groups])
            session.add(ChronologyEntry(school_id=user.school_id, pupil_id=pupil.id, entry_type="incident",
                                        ref_id=str(incident.id), incident_id=incident.id, occurred_at=occurred_at,
                                        title="Observation — " + ", ".join(c.name for c in categories),
                                        category_ids=[c.id for c in categories],
                                        sensitivities=sorted({c.sensitivity for c in categories})))
            event = {"event_id": str(uuid.uuid4()), "event_type": "incident_recorded",
                     "occurred_at": now.isoformat() + "Z", "school_id": user.school_id, "incident_id": incident.id,
                     "pupil_id": pupil.id, "recorded_by": user.id, "category_ids": [c.id for c in categories],
                     "category_names": [c.name for c in categories], "urgent": body.urgent,
                     "alert_user_ids": body.alert_user_ids, "alert_groups": groups}
            session.add(OutboxEvent(event_id=event["event_id"], event_type=event["event_type"],
                                    body=json.dumps(event), created_at=now))
        return {"id": incident.id, "pupil": {"id": pupil.id, "name": pupil.name},
                "occurred_at": incident.occurred_at.isoformat() + "Z", "recorded_at": now.isoformat() + "Z",
                "recorded_by": {"id": user.id, "name": user.name, "role": user.job_title},
                "account": incident.account, "record_type": incident.record_type, "urgent": incident.urgent,
                "categories": [{"id": c.id, "name": c.name} for c in categories], "alert_groups": groups,
                "warnings": []}

    return app


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.database_url), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)
