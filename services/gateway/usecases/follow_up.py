"""What the school does about an incident: actions, decisions, outcomes; and the DSL team's cases.

The gateway resolves staff ids against its own staff table (an assignee must be an active member of
staff; a case owner must be on the DSL team) and supplies their names; the incidents service decides
who may do what to which record."""
from __future__ import annotations

from services.common.contracts.base import validate
from services.common.contracts.incidents import (ActionIn, CaseIn, CompletionIn, DecisionIn, OutcomeIn,
                                                 StatusChange)

from .context import AuditLabel, Context
from .staff import assignee_name, case_owner_name

READ_ACTIONS = AuditLabel("read_actions", "incident")
ADD_ACTION = AuditLabel("add_action", "incident")
COMPLETE_ACTION = AuditLabel("complete_action", "action")
RECORD_DECISION = AuditLabel("record_decision", "incident")
RECORD_OUTCOME = AuditLabel("record_outcome", "incident")
SET_CASE_STATUS = AuditLabel("set_case_status", "case")
ADD_INCIDENT_TO_CASE = AuditLabel("add_incident_to_case", "case")
READ_DECISIONS = AuditLabel("read_decisions", "incident")
READ_OUTCOMES = AuditLabel("read_outcomes", "incident")
OPEN_CASE = AuditLabel("open_case", "case")
READ_CASE = AuditLabel("read_case", "case")
CHANGE_CASE_OWNER = AuditLabel("change_case_owner", "case")
LIST_CASES = AuditLabel("list_cases", "cases")
LIST_PUPIL_CASES = AuditLabel("list_cases", "pupil")


def _model(model, value):
    return value if isinstance(value, model) else validate(model, value)


# --- actions --------------------------------------------------------------------------------------

async def add_action(ctx: Context, user, incident_id: int, action: ActionIn | dict) -> dict:
    action = _model(ActionIn, action)
    if action.assigned_to_user_id is not None:
        name = await assignee_name(ctx, user, action.assigned_to_user_id)
        action = ActionIn.model_validate({**action.model_dump(exclude_unset=True), "assigned_to_name": name})

    def call():
        return ctx.clients.incidents.add_action(user.actor_token, incident_id=incident_id, action=action)
    return await ctx.audited(user, ADD_ACTION, incident_id, call)


async def complete_action(ctx: Context, user, action_id: int, completion: CompletionIn | dict) -> dict:
    completion = _model(CompletionIn, completion)

    def call():
        return ctx.clients.incidents.complete_action(user.actor_token, action_id=action_id, completion=completion)
    return await ctx.audited(user, COMPLETE_ACTION, action_id, call)


async def my_actions(ctx: Context, user, open_only: bool = True) -> list[dict]:
    return await ctx.clients.incidents.list_my_actions(user.actor_token, open_only=open_only)


async def school_actions(ctx: Context, user, open_only: bool = True) -> list[dict]:
    return await ctx.clients.incidents.list_school_actions(user.actor_token, open_only=open_only)


async def incident_actions(ctx: Context, user, incident_id: int) -> list[dict]:
    return await ctx.audited(user, READ_ACTIONS, incident_id,
                             lambda: ctx.clients.incidents.list_incident_actions(user.actor_token,
                                                                                 incident_id=incident_id))


# --- decisions and outcomes --------------------------------------------------------------------------

async def record_decision(ctx: Context, user, incident_id: int, decision: DecisionIn | dict) -> dict:
    decision = _model(DecisionIn, decision)
    return await ctx.audited(user, RECORD_DECISION, incident_id,
                             lambda: ctx.clients.incidents.record_decision(user.actor_token, incident_id=incident_id,
                                                                           decision=decision))


async def decisions(ctx: Context, user, incident_id: int) -> list[dict]:
    return await ctx.audited(user, READ_DECISIONS, incident_id,
                             lambda: ctx.clients.incidents.list_decisions(user.actor_token, incident_id=incident_id))


async def record_outcome(ctx: Context, user, incident_id: int, outcome: OutcomeIn | dict) -> dict:
    outcome = _model(OutcomeIn, outcome)
    return await ctx.audited(user, RECORD_OUTCOME, incident_id,
                             lambda: ctx.clients.incidents.record_outcome(user.actor_token, incident_id=incident_id,
                                                                          outcome=outcome))


async def outcomes(ctx: Context, user, incident_id: int) -> list[dict]:
    return await ctx.audited(user, READ_OUTCOMES, incident_id,
                             lambda: ctx.clients.incidents.list_outcomes(user.actor_token, incident_id=incident_id))


# --- cases -------------------------------------------------------------------------------------------

async def open_case(ctx: Context, user, case: CaseIn | dict) -> dict:
    given = case.model_dump(exclude_unset=True) if isinstance(case, CaseIn) else dict(case)
    name = await case_owner_name(ctx, user, given.get("owner_user_id"))
    case = validate(CaseIn, {**given, "owner_name": name})

    def call():
        return ctx.clients.incidents.open_case(user.actor_token, case=case)
    return await ctx.audited(user, OPEN_CASE, None, call)


async def cases(ctx: Context, user, status: str | None = None, pupil_id: int | None = None) -> list[dict]:
    label = LIST_PUPIL_CASES if pupil_id else LIST_CASES
    return await ctx.audited(user, label, pupil_id,
                             lambda: ctx.clients.incidents.list_cases(user.actor_token, status=status,
                                                                      pupil_id=pupil_id))


async def read_case(ctx: Context, user, case_id: int) -> dict:
    return await ctx.audited(user, READ_CASE, case_id,
                             lambda: ctx.clients.incidents.get_case(user.actor_token, case_id=case_id))


async def add_incident_to_case(ctx: Context, user, case_id: int, incident_id: int) -> dict:
    return await ctx.audited(user, ADD_INCIDENT_TO_CASE, case_id,
                             lambda: ctx.clients.incidents.add_incident_to_case(user.actor_token, case_id=case_id,
                                                                                incident_id=incident_id))


async def change_case_owner(ctx: Context, user, case_id: int, owner_user_id) -> dict:
    name = await case_owner_name(ctx, user, owner_user_id)

    def call():
        return ctx.clients.incidents.change_case_owner(
            user.actor_token, case_id=case_id, owner={"owner_user_id": owner_user_id, "owner_name": name})
    return await ctx.audited(user, CHANGE_CASE_OWNER, case_id, call)


async def set_case_status(ctx: Context, user, case_id: int, change: StatusChange | dict) -> dict:
    change = _model(StatusChange, change)
    return await ctx.audited(user, SET_CASE_STATUS, case_id,
                             lambda: ctx.clients.incidents.set_case_status(user.actor_token, case_id=case_id,
                                                                           change=change))
