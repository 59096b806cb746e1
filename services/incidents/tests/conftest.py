"""Fixtures for the incidents service's tests: real PostgreSQL, the demo school's roll, actors."""
from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import func, select, text

from services.common.actor import Actor
from services.common.contracts.base import validate
from services.common.contracts.incidents import IncidentIn
from services.common.db import make_engine, migrate, session_factory
from services.common.testing import fresh_database
from services.incidents import hooks
from services.incidents.models import Category, Pupil, School
from services.incidents.seed import seed_demo_school

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")
SCHOOL, OTHER_SCHOOL = 1, 2
TEACHER, OTHER_TEACHER, DSL_USER, SLT_USER = 10, 11, 20, 30


@pytest.fixture(scope="session")
def engine():
    """One database for the run, holding the demo school, a leaver, a retired category and a second school."""
    with fresh_database("haven_incidents_test") as url:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        with hooks.register(session_factory(engine)).begin() as session:
            assert seed_demo_school(session)
            session.add(School(id=OTHER_SCHOOL, name="Elsewhere Academy"))
            session.flush()
            session.add(Pupil(school_id=OTHER_SCHOOL, upn="Z000000000001", legal_forename="Otto",
                              legal_surname="Elsewhere", year_group="Year 3"))
            session.add(Category(school_id=OTHER_SCHOOL, name="Safeguarding", sensitivity="safeguarding",
                                 default_alert_groups=["dsl"]))
            session.add(Pupil(school_id=SCHOOL, upn="L000000000001", legal_forename="Lottie",
                              legal_surname="Leaver", year_group="Year 6", on_roll=False))
            session.add(Category(school_id=SCHOOL, name="Retired category", sensitivity="pastoral",
                                 active=False))
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(engine):
    """A session factory with no incidents or events. The roll and categories are shared: a test that
    changes them does so in the uncommitted `session` below."""
    with engine.begin() as conn:
        # Everything a test may have recorded, children before parents (the roll and categories stay).
        for table in ("outbox", "processed_events", "chronology", "case_events", "case_incidents", "cases",
                      "actions", "decisions", "outcomes", "amendments", "body_map_marks", "linked_pupils",
                      "tray_items", "incident_alerts", "incident_categories", "incident_exclusions", "incident_summaries",
                      "pupil_staff_relatives", "incidents"):
            conn.execute(text(f"DELETE FROM {table}"))
    return hooks.register(session_factory(engine))


@pytest.fixture
def session(sessions):
    s = sessions()
    yield s
    s.rollback()
    s.close()


def actor(user_id=TEACHER, roles=("staff",), school_id=SCHOOL, second_factor=False, name=None,
          stepped_up=None, grants=()) -> Actor:
    """A signed-in actor. With a second factor, it was given just now (so a safeguarding record may be
    read) unless `stepped_up=False` (given long ago: the step-up window has closed)."""
    now = time.time()
    stepped_up = second_factor if stepped_up is None else stepped_up
    return Actor(user_id=user_id, school_id=school_id, name=name or f"user {user_id}", roles=tuple(roles),
                 second_factor_at=(now if stepped_up else now - 7200) if second_factor else None,
                 step_up_until=now + 1800 if stepped_up else (now - 5400 if second_factor else None),
                 grants=tuple(grants))


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def pupil_id(session, surname=None, *, school_id=SCHOOL, on_roll=True) -> int:
    query = select(Pupil.id).where(Pupil.school_id == school_id, Pupil.on_roll.is_(on_roll))
    if surname:
        query = query.where(Pupil.legal_surname == surname)
    return session.scalars(query.order_by(Pupil.id)).first()


def category_id(session, name, *, school_id=SCHOOL) -> int:
    return session.scalar(select(Category.id).where(Category.school_id == school_id, Category.name == name))


def new_record(data: dict) -> IncidentIn:
    """A new record as record_incident receives it: checked by the contract first, as in the service."""
    return validate(IncidentIn, data)


def through_contract(method, **kwargs) -> dict:
    """A use case's arguments as the adapter hands them over: checked by the method's contract (its
    ValidationFailed, like the service's), nested models as plain dicts."""
    return method.parse(kwargs).model_dump()
