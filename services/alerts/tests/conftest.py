"""Fixtures for the alerts service's tests: real PostgreSQL, a real SMTP server, event builders."""
from __future__ import annotations

import itertools
import socket
import uuid
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from services.common.db import make_engine, migrate, session_factory
from services.common.testing import fresh_database

MIGRATIONS = "services/alerts/migrations"
SCHOOL, OTHER_SCHOOL = 1, 2
PUBLIC_URL = "https://haven.example.sch.uk"


@pytest.fixture(scope="session")
def database_url():
    with fresh_database("alerts_test") as url:
        migrate(url, MIGRATIONS)
        yield url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    """A session factory over an emptied database (cheaper than a new database per test)."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE mail, alerts, staff, processed_events, escalations, incidents, reminders, "
                          "preferences, school_settings RESTART IDENTITY CASCADE"))
    return session_factory(engine)


@pytest.fixture
def session(sessions):
    s = sessions()
    yield s
    s.rollback()
    s.close()


def free_port() -> int:
    # aiosmtpd's Controller(port=0) does not report the port it got, so choose one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps what it receives and can refuse the next few messages."""

    def __init__(self):
        self.messages = []
        self.refuse_next = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def inbox(smtp_server):
    inbox, _ = smtp_server
    inbox.messages.clear()
    inbox.refuse_next = 0
    return inbox


@pytest.fixture
def smtp_port(smtp_server):
    return smtp_server[1]


_incident_ids = itertools.count(1000)


def staff_event(user_id: int, name: str, roles=("staff",), school_id: int = SCHOOL, active: bool = True,
                email: str | None = "", occurred_at: str = "2026-01-05T09:00:00Z") -> dict:
    if email == "":
        email = f"user{user_id}@school.test"
    return {"event_id": str(uuid.uuid4()), "event_type": "staff_member_saved", "occurred_at": occurred_at,
            "school_id": school_id, "user_id": user_id, "name": name, "email": email,
            "roles": list(roles), "active": active}


def incident_event(recorded_by: int, alert_user_ids=(), alert_groups=("dsl",), urgent: bool = False,
                   category_names=("Safeguarding",), school_id: int = SCHOOL, **extra) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": "incident_recorded",
            "occurred_at": "2026-01-06T10:00:00Z", "school_id": school_id,
            "incident_id": next(_incident_ids), "pupil_id": 987654, "recorded_by": recorded_by,
            "category_ids": [7], "category_names": list(category_names), "urgent": urgent,
            "alert_user_ids": list(alert_user_ids), "alert_groups": list(alert_groups), **extra}
