"""The DSL's view of the audit trail: searching it, and "who has looked at this pupil's records".

Both read the gateway's own audit log (audit.py), one school's entries only, with the staff
member's name from the staff table; both are themselves audited.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from services.common.contracts.base import MAX_ID

from .. import accounts, audit
from ..models import StaffMember
from .context import AuditLabel, Context

SEARCH_AUDIT_LOG = AuditLabel("search_audit_log", "audit_log")
# "pupil_audit", not "pupil": looking at who has looked is not itself a look at the pupil's records,
# so it stays out of the pupil's own panel (and is still in the log, under the pupil's id).
READ_PUPIL_AUDIT = AuditLabel("read_pupil_audit", "pupil_audit")
PUPIL_PANEL_SIZE = 50
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
QueryId = Annotated[int, Field(ge=1, le=MAX_ID)]  # from a query string: "7" is 7


class AuditFilters(BaseModel):
    """What the DSL may search the log by. Blank fields are no filter; "from" and "to" take a day
    (YYYY-MM-DD, the whole day in UTC) or an ISO 8601 time."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: QueryId | None = Field(None, description="The member of staff who acted")
    action: str | None = Field(None, max_length=60, pattern=r"^[a-z0-9_]+$",
                               description="e.g. read_incident, add_action, sign_in")
    object_type: str | None = Field(None, max_length=40, pattern=r"^[a-z0-9_]+$", description="e.g. incident, pupil")
    object_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    pupil_id: QueryId | None = Field(None, description="Entries about this pupil's records")
    outcome: str | None = Field(None, max_length=20, pattern=r"^[a-z]+(:[0-9]{3})?$",
                                description="ok, refused (every refusal), refused:403, invalid:422, failed…")
    date_from: datetime | None = Field(None, alias="from", description="YYYY-MM-DD or ISO 8601 (UTC if no zone)")
    date_to: datetime | None = Field(None, alias="to", description="YYYY-MM-DD (the whole day) or ISO 8601")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_no_filter(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("limit", "offset", mode="before")
    @classmethod
    def _default_when_blank(cls, value, info):
        return cls.model_fields[info.field_name].default if value is None else value

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _day_or_time(cls, value, info):
        if isinstance(value, str) and _DAY.match(value.strip()):
            day = datetime.fromisoformat(value.strip())  # a bad day (2026-02-30) fails here: a ValueError → 422
            if info.field_name == "date_to":
                return day + timedelta(days=1) if day.year < 9999 else day.replace(hour=23, minute=59, second=59)
            return day
        return value

    @field_validator("date_from", "date_to")
    @classmethod
    def _in_utc(cls, value):
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(timezone.utc).replace(tzinfo=None)
            except OverflowError:  # 0001-01-01T00:00+01:00 is before the first moment there is
                raise ValueError("Give a date between the years 1 and 9999.") from None
        return value

    def query(self) -> dict:
        """The filters as audit.search takes them."""
        return {"user_id": self.user_id, "action": self.action, "object_type": self.object_type,
                "object_id": self.object_id, "pupil_id": self.pupil_id, "outcome": self.outcome,
                "since": self.date_from, "until": self.date_to, "limit": self.limit, "offset": self.offset}

    def described(self) -> str:
        """The filters used, for the audit entry of the search: ids and words, nothing typed freely."""
        used = self.model_dump(exclude_none=True, exclude={"limit", "offset"}, by_alias=True)
        return " ".join(f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in used.items())


async def search(ctx: Context, user, filters: AuditFilters) -> dict:
    """A page of the school's audit log, newest first: {entries, total, more, limit, offset} (`more`: there
    are more than `total`, which is counted only so far). The search is written to the log in the same
    transaction."""
    def read(session):
        entries, total = audit.search(session, user.school_id, **filters.query())
        _audit(session, ctx, user, SEARCH_AUDIT_LOG, None, detail=filters.described() or None)
        return {"entries": entries, "total": min(total, audit.COUNT_UP_TO), "more": total > audit.COUNT_UP_TO,
                "limit": filters.limit, "offset": filters.offset}
    return await ctx.db.run(read)


async def pupil_history(ctx: Context, user, pupil_id: int, limit: int = PUPIL_PANEL_SIZE) -> list[dict]:
    """Who has looked at (or written to) this pupil's records, newest first."""
    def read(session):
        entries, _total = audit.search(session, user.school_id, pupil_id=pupil_id, limit=limit)
        _audit(session, ctx, user, READ_PUPIL_AUDIT, pupil_id)
        return entries
    return await ctx.db.run(read)


def _audit(session, ctx: Context, user, label: AuditLabel, object_id, detail: str | None = None) -> None:
    accounts.audit(session, action=label.action, outcome="ok", user_id=user.id, school_id=user.school_id,
                   object_type=label.object_type, object_id=object_id, ip=ctx.ip, detail=detail)


async def staff_names(ctx: Context, user) -> list[dict]:
    """Everyone on the school's staff, deactivated accounts too (their entries stay in the log), for
    the search's "who" list."""
    def read(session):
        found = session.execute(select(StaffMember.id, StaffMember.name, StaffMember.active)
                                .where(StaffMember.school_id == user.school_id).order_by(StaffMember.name))
        return [{"id": i, "name": name, "active": active} for i, name, active in found]
    return await ctx.db.run(read)
