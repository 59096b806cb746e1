"""The demo school's staff (development only). Run by the launcher: `python -m services.gateway.seed`."""
from __future__ import annotations

import sys

from sqlalchemy import select

from services.common.db import make_engine, migrate, session_factory, transaction

from . import accounts
from .app import MIGRATIONS
from .models import StaffMember
from .settings import GatewaySettings

DEMO_PASSWORD = "haven-demo"
DEMO_TOTP_SECRET = "HAVENDEMOHAVENDEMOHAVENDEMOHAVEN"
DEMO_SCHOOL_ID = 1
DEMO_STAFF = [
    ("Dana Shah", "dsl@demo.haven.test", ["dsl", "admin"], "Designated Safeguarding Lead", True),
    ("Deputy Dee Lowe", "ddsl@demo.haven.test", ["dsl"], "Deputy DSL", True),
    ("Sam Lee", "slt@demo.haven.test", ["slt"], "Deputy Head", True),
    ("Tom Archer", "teacher@demo.haven.test", ["staff"], "Class Teacher, Year 4", False),
    ("Tess Morgan", "teacher2@demo.haven.test", ["staff"], "Class Teacher, Year 2", False),
    ("Tariq Bell", "ta@demo.haven.test", ["staff"], "Teaching Assistant", False),
]


def seed_demo_staff(session) -> bool:
    if session.scalar(select(StaffMember).where(StaffMember.school_id == DEMO_SCHOOL_ID).limit(1)):
        return False
    for name, email, roles, title, second_factor in DEMO_STAFF:
        accounts.save_staff_member(session, school_id=DEMO_SCHOOL_ID, name=name, email=email, roles=roles,
                                   password=DEMO_PASSWORD, job_title=title,
                                   totp_secret=DEMO_TOTP_SECRET if second_factor else None)
    return True


def main() -> None:
    settings = GatewaySettings()
    if not settings.is_local:
        sys.exit("The demo school is for development only (HAVEN_ENV=development or test); refusing to seed.")
    migrate(settings.gateway_database_url, MIGRATIONS)
    with transaction(session_factory(make_engine(settings.gateway_database_url))) as session:
        print("demo staff created" if seed_demo_staff(session) else "demo staff already present")


if __name__ == "__main__":
    main()
