"""The DSL team's cases: a pupil's incidents gathered under one owner, with their history."""
from __future__ import annotations

from typing import Literal

from fastapi import Query

from services.common.contracts.incidents import CASE_STATUSES

from . import api_router
from ..deps import Ctx, DslUser, audits
from ..schemas import (CaseIncidentRequest, CaseOwnerRequest, CaseRequest, CaseStatusRequest, CaseSummary,
                       CaseView, PathId)
from ..usecases import follow_up

router = api_router("/api/v1/cases", "cases")


@router.post("", status_code=201, response_model=CaseView,
             summary="Open a case over a pupil's incidents, with an owner on the DSL team (DSL team)")
async def open_case(body: CaseRequest, user: DslUser, ctx: Ctx):
    return await follow_up.open_case(ctx, user, body.model_dump(exclude_unset=True))


@router.get("", response_model=list[CaseSummary], summary="The school's cases, newest first (DSL team) (audited)")
@audits(follow_up.LIST_CASES)
async def list_cases(user: DslUser, ctx: Ctx, status: Literal[CASE_STATUSES] | None = None,
                     pupil_id: int | None = Query(None, description="Only this pupil's cases")):
    return await follow_up.cases(ctx, user, status, pupil_id)


@router.get("/{case_id}", response_model=CaseView,
            summary="A case with its incidents and its history (DSL team) (audited)")
@audits(follow_up.READ_CASE, "case_id")
async def get_case(case_id: PathId, user: DslUser, ctx: Ctx):
    return await follow_up.read_case(ctx, user, case_id)


@router.post("/{case_id}/incidents", response_model=CaseView, summary="Add an incident to a case (DSL team)")
async def add_incident_to_case(case_id: PathId, body: CaseIncidentRequest, user: DslUser, ctx: Ctx):
    return await follow_up.add_incident_to_case(ctx, user, case_id, body.incident_id)


@router.put("/{case_id}/owner", response_model=CaseView, summary="Change a case's owner (DSL team)")
@audits(follow_up.CHANGE_CASE_OWNER, "case_id")
async def change_case_owner(case_id: PathId, body: CaseOwnerRequest, user: DslUser, ctx: Ctx):
    return await follow_up.change_case_owner(ctx, user, case_id, body.owner_user_id)


@router.put("/{case_id}/status", response_model=CaseView,
            summary="Open, close or close with no further action, with the reason (DSL team)")
async def set_case_status(case_id: PathId, body: CaseStatusRequest, user: DslUser, ctx: Ctx):
    return await follow_up.set_case_status(ctx, user, case_id, body)
