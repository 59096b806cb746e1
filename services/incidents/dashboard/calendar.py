"""This week and this term, as the DSL's dashboard counts them.

Days are the school's days in England (services/common/clock.py): an incident recorded at 00:30 on a Monday in
British Summer Time belongs to that Monday's week, though the database stores it as 23:30 on Sunday
(UTC). Weeks start on Monday.

Term dates differ from school to school and from one local authority to the next, and Haven does not
hold them yet, so a term is approximated by the span of the usual English school term it falls in
(half terms and holidays inside it):
    Autumn   1 September – 31 December
    Spring   1 January   – 31 March
    Summer   1 April     – 31 August
"""
from __future__ import annotations

from datetime import date, timedelta

from services.common.clock import day_starts_at, school_today  # noqa: F401  (this module's days, as named here)

# (first month, name): each term runs from the 1st of its month to the day before the next one starts.
TERMS = ((9, "Autumn"), (4, "Summer"), (1, "Spring"))


def week_starts_on(today: date) -> date:
    return today - timedelta(days=today.weekday())


def term(today: date) -> tuple[str, date]:
    """The term `today` falls in (see above): its name and its first day."""
    for month, name in TERMS:
        if today.month >= month:
            return name, date(today.year, month, 1)
    raise AssertionError("every month is in a term")  # January is Spring's
