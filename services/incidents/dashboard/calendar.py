"""This week and this term, as the DSL's dashboard counts them.

Days are the school's days in England (Europe/London): an incident recorded at 00:30 on a Monday in
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

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

SCHOOL_TIME = ZoneInfo("Europe/London")
# (first month, name): each term runs from the 1st of its month to the day before the next one starts.
TERMS = ((9, "Autumn"), (4, "Summer"), (1, "Spring"))


def school_today(now: datetime) -> date:
    """`now` as the database keeps times (UTC, without a zone): the date at the school."""
    return now.replace(tzinfo=timezone.utc).astimezone(SCHOOL_TIME).date()


def week_starts_on(today: date) -> date:
    return today - timedelta(days=today.weekday())


def term(today: date) -> tuple[str, date]:
    """The term `today` falls in (see above): its name and its first day."""
    for month, name in TERMS:
        if today.month >= month:
            return name, date(today.year, month, 1)
    raise AssertionError("every month is in a term")  # January is Spring's


def day_starts_at(day: date) -> datetime:
    """Midnight at the school on `day`, as the database keeps times (UTC, without a zone)."""
    return datetime.combine(day, time(), SCHOOL_TIME).astimezone(timezone.utc).replace(tzinfo=None)
