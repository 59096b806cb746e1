"""The demo school's roll and categories (development only; the launcher refuses it otherwise)."""
from __future__ import annotations

import random
from datetime import date

from sqlalchemy.orm import Session

from .models import Category, HouseholdMember, Pupil, PupilLink, School

DEMO_SCHOOL_ID = 1
FORENAMES = ["Amara", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hamza", "Isla", "Jack", "Kiera",
             "Leo", "Maya", "Noah", "Olivia", "Priya", "Quinn", "Ruby", "Sami", "Tia", "Usman", "Violet",
             "Wren", "Xander", "Yasmin", "Zac", "Aisha", "Callum", "Darcy", "Ezra", "Freya", "Gabriel"]
SEXES = "FMFMFMFMFMFMFMFFFFMFMFFMFMFMFMFM"  # one per forename above
SURNAMES = ["Abbott", "Begum", "Carter", "Dawson", "Evans", "Fletcher", "Green", "Hussain", "Ince",
            "Jones", "Khan", "Lewis", "Mensah", "Nowak", "O'Brien", "Patel", "Quigley", "Reid", "Singh",
            "Thompson", "Umeh", "Vaughan", "Walsh", "Young", "Zielinski", "Ahmed", "Brennan", "Clarke",
            "Dunn", "Ellis", "Foster", "Gill"]
YEARS = ["Reception", "Year 1", "Year 2", "Year 3", "Year 4", "Year 5", "Year 6"]
# (name, sensitivity, groups to alert, colour, parent). The foundation's eight first, so their ids stay.
CATEGORIES = [("Safeguarding", "safeguarding", ["dsl"], "#c0392b", None),
              ("Behaviour", "behaviour", ["slt"], "#d35400", None),
              ("Attendance", "pastoral", ["slt"], "#2874a6", None),
              ("Medical", "medical", [], "#1e8449", None),
              ("SEN", "sen", [], "#7d3c98", None),
              ("Bullying", "behaviour", ["slt"], "#e67e22", "Behaviour"),
              ("Online safety", "safeguarding", ["dsl"], "#7b241c", "Safeguarding"),
              ("Parental contact", "pastoral", [], "#5d6d7e", None),
              ("Neglect", "safeguarding", ["dsl"], "#a93226", "Safeguarding"),
              ("Physical abuse", "safeguarding", ["dsl"], "#922b21", "Safeguarding")]
# The demo roll's flags, by pupil number (0–39); invented, like every name here.
CP_PLAN, CHILD_IN_NEED, LOOKED_AFTER, PREVIOUSLY_LOOKED_AFTER = {3, 20}, {5, 12}, {7, 24}, {27}
EARLY_HELP = {10, 31}
SEN_SUPPORT, EHCP, EAL = {2, 9, 15, 22}, {21}, {1, 8, 11, 23}
SIBLINGS = [(2, 11), (4, 14), (25, 30), (6, 13)]  # different surnames: blended families
HOUSEHOLDS = {
    2: [("Sarah O'Brien", "Mother", True, True), ("Piotr Nowak", "Stepfather", False, True),
        ("Liam O'Brien", "Father", True, False)],
    11: [("Sarah O'Brien", "Mother", True, True), ("Piotr Nowak", "Father", True, True)],
    3: [("Karen Vaughan", "Mother", True, True)],
    7: [("Foster carers (Mr and Mrs Hale)", "Foster carers", False, True),
        ("Children's social care", "Corporate parent", True, False)],
}


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
    pupils = []
    for n in range(40):
        year = YEARS[n % len(YEARS)]
        age = 4 + YEARS.index(year)
        born = date(2026 - age - 1, rng.randint(9, 12), rng.randint(1, 28))
        pupils.append(Pupil(
            school_id=DEMO_SCHOOL_ID, upn=_upn(n), legal_forename=FORENAMES[n % len(FORENAMES)],
            legal_surname=SURNAMES[(n * 7) % len(SURNAMES)], preferred_forename="Sam" if n == 18 else None,
            date_of_birth=born, sex=SEXES[n % len(FORENAMES)], year_group=year,
            form=f"{year[0]}{year[-1]}{'AB'[n % 2]}", admission_date=date(born.year + 5, 9, 2),
            cp_plan=n in CP_PLAN, child_in_need=n in CHILD_IN_NEED, looked_after=n in LOOKED_AFTER,
            previously_looked_after=n in PREVIOUSLY_LOOKED_AFTER, early_help=n in EARLY_HELP, eal=n in EAL,
            free_school_meals=n % 4 == 1,
            sen_status="ehcp" if n in EHCP else "sen_support" if n in SEN_SUPPORT else "none"))
    session.add_all(pupils)
    session.flush()
    for a, b in SIBLINGS:
        session.add_all([PupilLink(pupil_id=pupils[a].id, related_pupil_id=pupils[b].id, relationship="sibling"),
                         PupilLink(pupil_id=pupils[b].id, related_pupil_id=pupils[a].id, relationship="sibling")])
    for n, members in HOUSEHOLDS.items():
        for name, relationship, responsibility, lives_with in members:
            session.add(HouseholdMember(pupil_id=pupils[n].id, name=name, relationship=relationship,
                                        parental_responsibility=responsibility, lives_with_pupil=lives_with))
    ids: dict[str, int] = {}
    for name, sensitivity, groups, colour, parent in CATEGORIES:
        category = Category(school_id=DEMO_SCHOOL_ID, name=name, sensitivity=sensitivity,
                            default_alert_groups=groups, colour=colour, parent_id=ids.get(parent))
        session.add(category)
        session.flush()
        ids[name] = category.id
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
