"""Small checks shared by records, cases, the chronology and the front sheet: every field error is
collected (a form shows them all at once), dates are naive UTC and never in the future."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from services.common.db import utcnow

from .exceptions import ValidationFailed

MAX_ID = 2**31 - 1  # the databases' integer range: larger numbers cannot be ids
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(1990, 1, 1)


def is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def parse_iso_utc(value) -> datetime:
    """ISO 8601 to naive UTC; ValueError for anything that is not a date and time (or is off the calendar)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not a date and time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("off the calendar") from None
    return parsed


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() + "Z" if isinstance(value, datetime) else value.isoformat()


class Errors:
    """Collects every field error, so a form can show them all at once."""

    def __init__(self):
        self.items: list[dict] = []

    def __call__(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def when(value, field: str, what: str, error: Errors, *, default_now: bool = True) -> datetime | None:
    """An ISO 8601 date and time, in the past (a few minutes' clock skew allowed), as naive UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return utcnow() if default_now else None
    try:
        parsed = parse_iso_utc(value)
    except ValueError:
        error(field, f"Give the date and time {what}, e.g. 2026-03-01T09:30.")
        return None
    if parsed > utcnow() + CLOCK_SKEW:
        error(field, "The date and time cannot be in the future.")
        return None
    if parsed < EARLIEST:
        error(field, "That date is too far in the past; check the year.")
        return None
    return parsed


def day(value, field: str, what: str, error: Errors) -> date | None:
    """An optional calendar date, YYYY-MM-DD."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        error(field, f"Give {what} as a date, e.g. 2026-03-01.")
        return None
    if parsed < EARLIEST.date() or parsed.year > 2200:
        error(field, "That date is out of range; check the year.")
        return None
    return parsed


def text(value, field: str, error: Errors, *, required: str | None = None, limit: int, what: str) -> str | None:
    """Trimmed text; `required` is the message when it is missing (None: optional)."""
    if value is not None and not isinstance(value, str):
        error(field, f"{what} must be text.")
        return None
    value = (value or "").strip()
    if not value:
        if required:
            error(field, required)
        return None
    if len(value) > limit:
        error(field, f"{what} is longer than {limit:,} characters.")
        return None
    return value
