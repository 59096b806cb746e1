"""The audit log for the DSL team: searching it, and who has looked at a pupil's records (both
audited; one school's entries only)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

from . import api_router
from ..deps import Ctx, DslUser, audits
from ..schemas import PathId
from ..usecases import audit_log
from ..usecases.audit_log import AuditFilters

router = api_router("/api/v1", "audit")


class AuditEntryView(BaseModel):
    id: int
    at: str
    user_id: int | None = None
    name: str | None = None
    action: str
    object_type: str | None = None
    object_id: str | None = None
    outcome: str
    ip: str | None = None
    email: str | None = None
    detail: str | None = None
    pupil_id: int | None = None


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    total: int
    limit: int
    offset: int


@router.get("/audit", response_model=AuditPage,
            summary="Search the school's audit log, newest first (DSL team) (audited)")
@audits(audit_log.SEARCH_AUDIT_LOG)
async def search_audit_log(filters: Annotated[AuditFilters, Query()], user: DslUser, ctx: Ctx):
    return await audit_log.search(ctx, user, filters)


@router.get("/pupils/{pupil_id}/audit", response_model=list[AuditEntryView],
            summary="Who has looked at or written to a pupil's records: the last 50, newest first "
                    "(DSL team) (audited)")
@audits(audit_log.READ_PUPIL_AUDIT, "pupil_id")
async def pupil_audit(pupil_id: PathId, user: DslUser, ctx: Ctx):
    return await audit_log.pupil_history(ctx, user, pupil_id)
