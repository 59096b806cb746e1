"""The demo school's roll and categories (development only; the launcher refuses it otherwise)."""
from __future__ import annotations

import random
from datetime import date

from sqlalchemy.orm import Session

from .models import Category, Pupil, School

DEMO_SCHOOL_ID = 1
FORENAMES = ["Amara", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hamza", "Isla", "Jack", "Kiera",
             "Leo", "Maya", "Noah", "Olivia", "Priya", "Quinn", "Ruby", "Sami", "Tia", "Usman", "Violet",
             "Wren", "Xander", "Yasmin", "Zac", "Aisha", "Callum", "Darcy", "Ezra", "Freya", "Gabriel"]
SURNAMES = ["Abbott", "Begum", "Carter", "Dawson", "Evans", "Fletcher", "Green", "Hussain", "Ince",
            "Jones", "Khan", "Lewis", "Mensah", "Nowak", "O'Brien", "Patel", "Quigley", "Reid", "Singh",
            "Thompson", "Umeh", "Vaughan", "Walsh", "Young", "Zielinski", "Ahmed", "Brennan", "Clarke",
            "Dunn", "Ellis", "Foster", "Gill"]
YEARS = ["Reception", "Year 1", "Year 2", "Year 3", "Year 4", "Year 5", "Year 6"]
CATEGORIES = [("Safeguarding", "safeguarding", ["dsl"]), ("Behaviour", "behaviour", ["slt"]),
              ("Attendance", "pastoral", ["slt"]), ("Medical", "medical", []), ("SEN", "sen", []),
              ("Bullying", "behaviour", ["slt"]), ("Online safety", "safeguarding", ["dsl"]),
              ("Parental contact", "pastoral", [])]


def _upn(n: int) -> str:
    # Invented UPN-shaped identifiers (letter + 12 digits); not real pupils' numbers.
    return f"H{801000000000 + n:012d}"


def seed_demo_school(session: Session) -> bool:
    """Create the demo school once; False when it is already there."""
    if session.get(School, DEMO_SCHOOL_ID) is not None:
        return False
    session.add(School(id=DEMO_SCHOOL_ID, name="Haven Demo Primary"))
    session.flush()
    rng = random.Random(2026)
    for n in range(40):
        year = YEARS[n % len(YEARS)]
        age = 4 + YEARS.index(year)
        session.add(Pupil(school_id=DEMO_SCHOOL_ID, upn=_upn(n), legal_forename=FORENAMES[n % len(FORENAMES)],
                          legal_surname=SURNAMES[(n * 7) % len(SURNAMES)],
                          preferred_forename="Sam" if n == 18 else None,
                          date_of_birth=date(2026 - age - 1, rng.randint(9, 12), rng.randint(1, 28)),
                          year_group=year, form=f"{year[0]}{year[-1]}{'AB'[n % 2]}"))
    for name, sensitivity, groups in CATEGORIES:
        session.add(Category(school_id=DEMO_SCHOOL_ID, name=name, sensitivity=sensitivity,
                             default_alert_groups=groups))
    return True


def main() -> None:
    import os
    import sys

    from services.common.db import make_engine, migrate, session_factory, transaction

    from .settings import IncidentsSettings

    settings = IncidentsSettings()
    if not settings.is_local:
        sys.exit("The demo school is for development only (HAVEN_ENV=development or test); refusing to seed.")
    migrate(settings.incidents_database_url, os.path.join(os.path.dirname(__file__), "migrations"))
    with transaction(session_factory(make_engine(settings.incidents_database_url))) as session:
        print("demo roll created" if seed_demo_school(session) else "demo roll already present")


if __name__ == "__main__":
    main()
