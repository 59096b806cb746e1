"""The audit log for the DSL team: searching it, and who has looked at a pupil's records (both
audited; one school's entries only)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from services.common.contracts.base import validate
from services.common.errors import ValidationFailed

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
    total: int = Field(description="How many entries match, counted up to 10,000")
    more: bool = Field(description="More entries match than `total` says")
    limit: int
    offset: int


def audit_filters(request: Request,
                  user_id: str | None = Query(None, description="The member of staff who acted (their id)"),
                  action: str | None = Query(None, description="e.g. read_incident, add_action, sign_in"),
                  object_type: str | None = Query(None, description="e.g. incident, pupil, case"),
                  object_id: str | None = Query(None, description="The record's id"),
                  pupil_id: str | None = Query(None, description="Entries about this pupil's records"),
                  outcome: str | None = Query(None, description="ok, refused (every refusal), refused:403, "
                                                                "invalid:422, failed"),
                  date_from: str | None = Query(None, alias="from", description="YYYY-MM-DD or ISO 8601 (UTC)"),
                  date_to: str | None = Query(None, alias="to", description="YYYY-MM-DD (the whole day) or ISO 8601"),
                  limit: str | None = Query(None, description="1 to 200 (default 50)"),
                  offset: str | None = Query(None, description="Entries to skip (default 0)")) -> AuditFilters:
    """The query string checked by the one model the page uses too (AuditFilters): 422 naming each
    field that is wrong, a parameter we do not know included (a typo is not a search of everything)."""
    given = {"user_id": user_id, "action": action, "object_type": object_type, "object_id": object_id,
             "pupil_id": pupil_id, "outcome": outcome, "from": date_from, "to": date_to, "limit": limit,
             "offset": offset}
    unknown = [{"field": k[:40], "message": "Not a filter of the audit log."}
               for k in request.query_params if k not in given]
    try:
        filters = validate(AuditFilters, {k: v for k, v in given.items() if v is not None})
    except ValidationFailed as exc:
        raise ValidationFailed(exc.errors + unknown) from None
    if unknown:
        raise ValidationFailed(unknown)
    return filters


@router.get("/audit", response_model=AuditPage,
            summary="Search the school's audit log, newest first (DSL team) (audited)")
@audits(audit_log.SEARCH_AUDIT_LOG)
async def search_audit_log(user: DslUser, ctx: Ctx, filters: Annotated[AuditFilters, Depends(audit_filters)]):
    return await audit_log.search(ctx, user, filters)


@router.get("/pupils/{pupil_id}/audit", response_model=list[AuditEntryView],
            summary="Who has looked at or written to a pupil's records: the last 50, newest first "
                    "(DSL team) (audited)")
@audits(audit_log.READ_PUPIL_AUDIT, "pupil_id")
async def pupil_audit(pupil_id: PathId, user: DslUser, ctx: Ctx):
    return await audit_log.pupil_history(ctx, user, pupil_id)
