"""The school's clock. Haven's schools are in England: a day, a week, "9:30" and a digest at 07:30 are
London's (GMT or BST), while the databases keep times as naive UTC. Every process converts here."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

SCHOOL_TIME = ZoneInfo("Europe/London")


def school_time(now: datetime) -> datetime:
    """`now` as stored (naive UTC) as the school's wall-clock time (aware)."""
    return now.replace(tzinfo=timezone.utc).astimezone(SCHOOL_TIME)


def school_today(now: datetime) -> date:
    """The date at the school at `now` (naive UTC)."""
    return school_time(now).date()


def day_starts_at(day: date) -> datetime:
    """Midnight at the school on `day`, as stored (naive UTC)."""
    return stored(datetime.combine(day, time(), SCHOOL_TIME))


def stored(when: datetime) -> datetime:
    """An aware time as the databases keep it (naive UTC)."""
    return when.astimezone(timezone.utc).replace(tzinfo=None)
