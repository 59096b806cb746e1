"""What the school does about an incident: actions, decisions, outcomes; and the DSL team's cases.

The gateway checks the tier (decisions, outcomes and cases are the DSL team's) and resolves staff
ids against its own staff table (an assignee must be an active member of staff; a case owner must
be on the DSL team); the incidents service re-checks who may do what to which record.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.common.errors import ValidationFailed

from ..deps import CurrentUser, Database, DslUser, Rpc
from ..models import StaffMember
from .incidents import audited, dsl_team_member

router = APIRouter(prefix="/api/v1", tags=["records"])

# The incidents service owns these lists and checks them; they are repeated here for the OpenAPI document.
DECISION_TYPES = ("refer_childrens_social_care", "early_help", "police", "camhs", "lado", "other_agency",
                  "no_referral")
OUTCOME_TYPES = ("no_further_action", "monitoring", "support_in_school", "referral_made", "escalated", "other")
CASE_STATUSES = ("open", "closed", "no_further_action")


def _wire(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else value


# --- actions --------------------------------------------------------------------------------------------

class ActionIn(BaseModel):
    description: str = Field("", description="What was done, or is to be done (at most 5,000 characters)")
    taken_at: datetime | str | None = Field(None, description="ISO 8601; when it was done or agreed. Defaults to "
                                                              "now; may be backdated, never in the future")
    assigned_to_user_id: int | None = Field(None, description="A member of staff (GET /api/v1/staff)")
    due_on: date | str | None = Field(None, description="YYYY-MM-DD; not before taken_at")


class CompletionIn(BaseModel):
    note: str | None = Field(None, description="What was done (at most 10,000 characters)")


class Person(BaseModel):
    id: int
    name: str


class ActionOut(BaseModel):
    id: int
    incident_id: int
    description: str
    taken_at: str
    assigned_to: Person | None
    due_on: str | None
    created_by: Person
    created_at: str
    completed: bool
    completed_at: str | None
    completed_by: Person | None
    completion_note: str | None


def staff_name(session, school_id: int, user_id: int) -> str | None:
    """The name of an active member of this school's staff, or None."""
    member = session.get(StaffMember, user_id)
    if member is None or member.school_id != school_id or not member.active:
        return None
    return member.name


@router.post("/incidents/{incident_id}/actions", status_code=201, response_model=ActionOut,
             summary="Add an action to an incident (the DSL team, its recorder, or staff alerted about it)")
async def add_action(incident_id: int, body: ActionIn, user: CurrentUser, rpc: Rpc, db: Database):
    data = {k: _wire(v) for k, v in body.model_dump().items()}
    if body.assigned_to_user_id is not None:
        data["assigned_to_name"] = await db.run(staff_name, user.school_id, body.assigned_to_user_id)
        if data["assigned_to_name"] is None:
            raise ValidationFailed.one("assigned_to_user_id", "That person is not an active member of staff. "
                                                              "Choose who to assign this to from the list.")
    return await rpc.call("incidents", "add_action", user.actor_token, incident_id, data)


@router.get("/incidents/{incident_id}/actions", response_model=list[ActionOut],
            summary="An incident's actions, in the order they were taken (audited)")
async def list_incident_actions(incident_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_actions", "incident", incident_id,
                         lambda: rpc.call("incidents", "list_incident_actions", user.actor_token, incident_id))


@router.post("/actions/{action_id}/complete", response_model=ActionOut,
             summary="Complete an action (its assignee, who added it, or the DSL team); once only")
async def complete_action(action_id: int, body: CompletionIn, user: CurrentUser, rpc: Rpc):
    return await rpc.call("incidents", "complete_action", user.actor_token, action_id, body.model_dump())


@router.get("/actions", response_model=list[ActionOut],
            summary="My actions (assigned=me), or every action in the school (DSL team)")
async def list_actions(user: CurrentUser, rpc: Rpc,
                       assigned: Literal["me"] | None = Query(None, description="me: only actions assigned to "
                                                                                "me. Leave out: every action "
                                                                                "(DSL team only)"),
                       open_only: bool = Query(True, alias="open",
                                               description="true: not yet completed; false: all")):
    if assigned == "me":
        return await rpc.call("incidents", "list_my_actions", user.actor_token, open_only)
    if not user.is_dsl:
        raise HTTPException(403, "Only the DSL team can see everyone's actions; add assigned=me for your own.")
    return await rpc.call("incidents", "list_school_actions", user.actor_token, open_only)


# --- decisions and outcomes ------------------------------------------------------------------------------

class DecisionIn(BaseModel):
    decision_type: str | None = Field(None, description="The decision",
                                      json_schema_extra={"enum": list(DECISION_TYPES)})
    reason: str | None = Field(None, description="Why; required for every decision, and a decision not to "
                                                 "refer (no_referral) must give its rationale")
    agency: str | None = Field(None, description="The agency referred to; required for other_agency")
    reference: str | None = Field(None, description="The agency's reference, e.g. a case number")
    decided_at: datetime | str | None = Field(None, description="ISO 8601; defaults to now; never in the future")


class DecisionOut(BaseModel):
    id: int
    incident_id: int
    decision_type: str
    decision_type_label: str
    agency: str | None
    reference: str | None
    reason: str
    decided_at: str
    decided_by: Person


class OutcomeIn(BaseModel):
    outcome_type: str | None = Field(None, description="no_further_action reads \"No further action — record is "
                                                       "sufficient\"", json_schema_extra={"enum": list(OUTCOME_TYPES)})
    note: str | None = Field(None, description="Required for other")


class OutcomeOut(BaseModel):
    id: int
    incident_id: int
    outcome_type: str
    outcome_type_label: str
    note: str | None
    recorded_at: str
    recorded_by: Person


@router.post("/incidents/{incident_id}/decisions", status_code=201, response_model=DecisionOut,
             summary="Record a decision and its reasons: a referral, or a decision not to refer (DSL team)")
async def record_decision(incident_id: int, body: DecisionIn, user: DslUser, rpc: Rpc):
    data = {k: _wire(v) for k, v in body.model_dump().items()}
    return await rpc.call("incidents", "record_decision", user.actor_token, incident_id, data)


@router.get("/incidents/{incident_id}/decisions", response_model=list[DecisionOut],
            summary="An incident's decisions (DSL team; SLT outside safeguarding) (audited)")
async def list_decisions(incident_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_decisions", "incident", incident_id,
                         lambda: rpc.call("incidents", "list_decisions", user.actor_token, incident_id))


@router.post("/incidents/{incident_id}/outcomes", status_code=201, response_model=OutcomeOut,
             summary="Record an incident's outcome, e.g. no further action — record is sufficient (DSL team)")
async def record_outcome(incident_id: int, body: OutcomeIn, user: DslUser, rpc: Rpc):
    return await rpc.call("incidents", "record_outcome", user.actor_token, incident_id, body.model_dump())


@router.get("/incidents/{incident_id}/outcomes", response_model=list[OutcomeOut],
            summary="An incident's outcomes (DSL team; SLT outside safeguarding) (audited)")
async def list_outcomes(incident_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_outcomes", "incident", incident_id,
                         lambda: rpc.call("incidents", "list_outcomes", user.actor_token, incident_id))


# --- cases (the DSL team) -----------------------------------------------------------------------------------

class CaseIn(BaseModel):
    pupil_id: int
    title: str = Field("", description="A short title, e.g. 'Neglect concerns, autumn term' (at most 200)")
    owner_user_id: int = Field(description="The owner, a member of the DSL team")
    incident_ids: list[int] = Field(default_factory=list, max_length=500,
                                    description="Incidents about the pupil, or in which they are a linked pupil")


class CaseIncidentIn(BaseModel):
    incident_id: int


class CaseOwnerIn(BaseModel):
    owner_user_id: int = Field(description="The new owner, a member of the DSL team")


class CaseStatusIn(BaseModel):
    status: str | None = Field(None, json_schema_extra={"enum": list(CASE_STATUSES)})
    reason: str | None = Field(None, description="Why the status is changing (required)")


class PupilRef(BaseModel):
    id: int
    name: str
    year_group: str
    form: str | None


class CaseSummary(BaseModel):
    id: int
    title: str
    status: str
    status_label: str
    pupil: PupilRef
    owner: Person
    opened_at: str
    closed_at: str | None
    incident_count: int


class CaseIncidentOut(BaseModel):
    id: int
    pupil_id: int
    occurred_at: str
    record_type: str
    record_type_label: str
    categories: list[dict]
    urgent: bool
    recorded_by: Person


class CaseEventOut(BaseModel):
    id: int
    what: str
    reason: str | None
    by: Person
    at: str


class CaseOut(CaseSummary):
    incidents: list[CaseIncidentOut]
    history: list[CaseEventOut]


async def _dsl_owner(db, user, owner_user_id: int) -> str:
    name = await db.run(dsl_team_member, user.school_id, owner_user_id)
    if name is None:
        raise ValidationFailed.one("owner_user_id", "That person is not on the DSL team. Choose the DSL or a "
                                                    "deputy to own the case.")
    return name


@router.post("/cases", status_code=201, response_model=CaseOut,
             summary="Open a case over a pupil's incidents, with an owner on the DSL team (DSL team)")
async def open_case(body: CaseIn, user: DslUser, rpc: Rpc, db: Database):
    data = {**body.model_dump(), "owner_name": await _dsl_owner(db, user, body.owner_user_id)}
    return await rpc.call("incidents", "open_case", user.actor_token, data)


@router.get("/cases", response_model=list[CaseSummary], summary="The school's cases, newest first (DSL team) "
                                                                "(audited)")
async def list_cases(user: DslUser, rpc: Rpc, db: Database, request: Request,
                     status: Literal["open", "closed", "no_further_action"] | None = None,
                     pupil_id: int | None = Query(None, description="Only this pupil's cases")):
    return await audited(db, user, request, "list_cases", "pupil" if pupil_id else "cases", pupil_id,
                         lambda: rpc.call("incidents", "list_cases", user.actor_token, status, pupil_id))


@router.get("/cases/{case_id}", response_model=CaseOut,
            summary="A case with its incidents and its history (DSL team) (audited)")
async def get_case(case_id: int, user: DslUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_case", "case", case_id,
                         lambda: rpc.call("incidents", "get_case", user.actor_token, case_id))


@router.post("/cases/{case_id}/incidents", response_model=CaseOut, summary="Add an incident to a case (DSL team)")
async def add_incident_to_case(case_id: int, body: CaseIncidentIn, user: DslUser, rpc: Rpc):
    return await rpc.call("incidents", "add_incident_to_case", user.actor_token, case_id, body.incident_id)


@router.put("/cases/{case_id}/owner", response_model=CaseOut, summary="Change a case's owner (DSL team)")
async def change_case_owner(case_id: int, body: CaseOwnerIn, user: DslUser, rpc: Rpc, db: Database):
    data = {"owner_user_id": body.owner_user_id, "owner_name": await _dsl_owner(db, user, body.owner_user_id)}
    return await rpc.call("incidents", "change_case_owner", user.actor_token, case_id, data)


@router.put("/cases/{case_id}/status", response_model=CaseOut,
            summary="Open, close or close with no further action, with the reason (DSL team)")
async def set_case_status(case_id: int, body: CaseStatusIn, user: DslUser, rpc: Rpc):
    return await rpc.call("incidents", "set_case_status", user.actor_token, case_id, body.model_dump())
