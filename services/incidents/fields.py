"""Small checks shared by records, cases, the chronology and the front sheet, on values the contract
has already checked for type and length: every field error is collected (a form shows them all at
once), dates are naive UTC and never in the future."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from pydantic import TypeAdapter, ValidationError

from services.common.contracts.base import EARLIEST, PastMoment, field_errors, parse_moment
from services.common.db import utcnow

from .exceptions import ValidationFailed


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


@lru_cache(maxsize=None)
def _past_moment(what: str) -> TypeAdapter:
    return TypeAdapter(PastMoment(what))


def when(value: str | None, field: str, what: str, error: Errors) -> datetime | None:
    """An optional ISO 8601 date and time (default now), checked by the contract's rule for a moment
    that has happened (PastMoment), as naive UTC."""
    if value is None or not value.strip():
        return utcnow()
    try:
        _past_moment(what).validate_python(value)
    except ValidationError as exc:
        for problem in field_errors(exc):
            error(field, problem["message"])
        return None
    return parse_moment(value)


def day(value: str | None, field: str, what: str, error: Errors) -> date | None:
    """An optional calendar date, YYYY-MM-DD."""
    if value is None or not value.strip():
        return None
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        error(field, f"Give {what} as a date, e.g. 2026-03-01.")
        return None
    if parsed < EARLIEST.date() or parsed.year > 2200:
        error(field, "That date is out of range; check the year.")
        return None
    return parsed


def optional_text(value: str | None) -> str | None:
    """Trimmed; blank is nothing."""
    return (value or "").strip() or None


def required_text(value: str | None, field: str, error: Errors, message: str) -> str | None:
    """Trimmed text that must say something; `message` says what to write."""
    value = optional_text(value)
    if value is None:
        error(field, message)
    return value
