"""What the school does about an incident: its actions, decisions and outcomes.

Decisions and outcomes are the DSL team's; anyone who may act on an incident may add an action
(the incidents service decides, and says so in the incident's `may`)."""
from __future__ import annotations

from typing import Literal

from fastapi import Query

from . import api_router
from ..deps import Ctx, CurrentUser, DslUser, Recorder, audits
from ..schemas import (ActionRequest, ActionView, CompletionRequest, DecisionRequest, DecisionView,
                       OutcomeRequest, OutcomeView, PathId)
from ..usecases import follow_up

router = api_router("/api/v1", "actions")


@router.post("/incidents/{incident_id}/actions", status_code=201, response_model=ActionView,
             summary="Add an action to an incident (the DSL team, its recorder, or staff alerted about it)")
@audits(follow_up.ADD_ACTION, "incident_id")
async def add_action(incident_id: PathId, body: ActionRequest, user: Recorder, ctx: Ctx):
    return await follow_up.add_action(ctx, user, incident_id, body.model_dump(exclude_unset=True))


@router.get("/incidents/{incident_id}/actions", response_model=list[ActionView],
            summary="An incident's actions, in the order they were taken (audited)")
@audits(follow_up.READ_ACTIONS, "incident_id")
async def list_incident_actions(incident_id: PathId, user: CurrentUser, ctx: Ctx):
    return await follow_up.incident_actions(ctx, user, incident_id)


@router.post("/actions/{action_id}/complete", response_model=ActionView,
             summary="Complete an action (its assignee, who added it, or the DSL team); once only")
@audits(follow_up.COMPLETE_ACTION, "action_id")
async def complete_action(action_id: PathId, body: CompletionRequest, user: CurrentUser, ctx: Ctx):
    return await follow_up.complete_action(ctx, user, action_id, body)


@router.get("/actions", response_model=list[ActionView],
            summary="My actions (assigned=me), or every action in the school (DSL team)")
async def list_actions(user: CurrentUser, ctx: Ctx,
                       assigned: Literal["me"] | None = Query(None, description="me: only actions assigned to "
                                                                                "me. Leave out: every action "
                                                                                "(DSL team only)"),
                       open_only: bool = Query(True, alias="open",
                                               description="true: not yet completed; false: all")):
    if assigned == "me":
        return await follow_up.my_actions(ctx, user, open_only)
    return await follow_up.school_actions(ctx, user, open_only)  # the service refuses all but the DSL team


@router.post("/incidents/{incident_id}/decisions", status_code=201, response_model=DecisionView,
             summary="Record a decision and its reasons: a referral, or a decision not to refer (DSL team)")
async def record_decision(incident_id: PathId, body: DecisionRequest, user: DslUser, ctx: Ctx):
    return await follow_up.record_decision(ctx, user, incident_id, body)


@router.get("/incidents/{incident_id}/decisions", response_model=list[DecisionView],
            summary="An incident's decisions (DSL team; SLT outside safeguarding) (audited)")
@audits(follow_up.READ_DECISIONS, "incident_id")
async def list_decisions(incident_id: PathId, user: CurrentUser, ctx: Ctx):
    return await follow_up.decisions(ctx, user, incident_id)


@router.post("/incidents/{incident_id}/outcomes", status_code=201, response_model=OutcomeView,
             summary="Record an incident's outcome, e.g. no further action — record is sufficient (DSL team)")
async def record_outcome(incident_id: PathId, body: OutcomeRequest, user: DslUser, ctx: Ctx):
    return await follow_up.record_outcome(ctx, user, incident_id, body)


@router.get("/incidents/{incident_id}/outcomes", response_model=list[OutcomeView],
            summary="An incident's outcomes (DSL team; SLT outside safeguarding) (audited)")
@audits(follow_up.READ_OUTCOMES, "incident_id")
async def list_outcomes(incident_id: PathId, user: CurrentUser, ctx: Ctx):
    return await follow_up.outcomes(ctx, user, incident_id)
