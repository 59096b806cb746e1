"""The demo school's staff and groups (development only). Run by the launcher: `python -m services.gateway.seed`.

The demo accounts cover every role: the DSL (also the administrator), a deputy, SLT, teachers, a SENCO
(a category reader through the SENCO group), a governor and an administrator who is nothing else."""
from __future__ import annotations

import sys

from sqlalchemy import select

from services.common.db import make_engine, migrate, session_factory, transaction

from . import accounts
from .app import MIGRATIONS
from .models import GroupMember, School, StaffGroup, StaffMember
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
    ("Nadia Brooks", "senco@demo.haven.test", ["staff"], "SENCO", True),
    ("Gwen Ford", "governor@demo.haven.test", ["governor"], "Chair of Governors", False),
    ("Alex Kerr", "admin@demo.haven.test", ["admin"], "School Business Manager", True),
]
# The incidents seed makes the foundation's eight categories first, in a fixed order, on its fresh database
# (services/incidents/seed.py), so the demo SEN category's id is known before any service runs; a test
# holds the two seeds to it.
DEMO_SEN_CATEGORY_ID = 5
DEMO_GROUPS = [("SENCO", [DEMO_SEN_CATEGORY_ID], None, ["senco@demo.haven.test"])]


def seed_demo_staff(session) -> bool:
    if session.scalar(select(StaffMember).where(StaffMember.school_id == DEMO_SCHOOL_ID).limit(1)):
        return False
    if session.get(School, DEMO_SCHOOL_ID) is None:
        session.add(School(id=DEMO_SCHOOL_ID, name="Haven Demo Primary", local_authority="Demo"))
    made = {}
    for name, email, roles, title, second_factor in DEMO_STAFF:
        made[email] = accounts.save_staff_member(
            session, school_id=DEMO_SCHOOL_ID, name=name, email=email, roles=roles, password=DEMO_PASSWORD,
            job_title=title, totp_secret=DEMO_TOTP_SECRET if second_factor else None)
    for name, category_ids, year_groups, members in DEMO_GROUPS:
        group = StaffGroup(school_id=DEMO_SCHOOL_ID, name=name, category_ids=category_ids, year_groups=year_groups)
        session.add(group)
        session.flush()
        session.add_all(GroupMember(group_id=group.id, user_id=made[email].id) for email in members)
    session.flush()
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
