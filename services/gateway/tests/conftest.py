"""Fixtures for the gateway's account tests: real PostgreSQL with the demo staff, one rolled-back
session per test (the account functions only flush; the route's unit of work commits)."""
from __future__ import annotations

import os

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from services.common.db import make_engine, migrate, session_factory
from services.common.testing import fresh_database
from services.gateway import accounts
from services.gateway.models import StaffMember
from services.gateway.seed import seed_demo_staff

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")
# Real argon2 at the lowest cost (production parameters take ~0.2 s a hash here); module-scoped so
# the patch never outlives these tests.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module", autouse=True)
def cheap_password_hashing():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "hasher", CHEAP_HASHER)
        mp.setattr(accounts, "_DUMMY_HASH", CHEAP_HASHER.hash("not-a-password"))
        yield


@pytest.fixture(scope="module")
def engine(cheap_password_hashing):
    with fresh_database("haven_gateway_test") as url:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        with session_factory(engine).begin() as session:
            assert seed_demo_staff(session)
        yield engine
        engine.dispose()


@pytest.fixture
def session(engine):
    """Everything a test writes is rolled back, so each test starts from the demo staff alone."""
    s = session_factory(engine)()
    yield s
    s.rollback()
    s.close()


def staff(session, email: str) -> StaffMember:
    return session.scalar(select(StaffMember).where(StaffMember.email == email))
