"""The incident tray: monitoring systems post alerts with an API key; the DSL team handles them.

Integrations (and their keys) are managed by the DSL team. The inbound endpoint takes only the
key (no session cookie, so no CSRF token): the gateway signs an actor of kind "integration" for it
and the incidents service accepts nothing else there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.common.actor import sign
from services.common.errors import ValidationFailed

from .. import accounts, integrations
from ..deps import Database, DslUser, Rpc, Settings, client_ip
from .incidents import audited, unknown_staff

router = APIRouter(prefix="/api/v1", tags=["tray"])
bearer = HTTPBearer(auto_error=False, scheme_name="IntegrationKey",
                    description="An integration's API key (made by the DSL under /api/v1/integrations).")


# --- integrations (DSL team) ---------------------------------------------------------------------

class IntegrationIn(BaseModel):
    name: str = Field("", max_length=1000, description="The monitoring system's name, e.g. 'Smoothwall Monitor'")


@router.post("/integrations", status_code=201, summary="Add a monitoring system and make its API key (shown once)")
async def create_integration(body: IntegrationIn, user: DslUser, db: Database, request: Request):
    def create(session):
        integration, key = integrations.create_integration(session, school_id=user.school_id,
                                                           created_by=user.id, name=body.name)
        accounts.audit(session, action="create_integration", outcome="ok", user_id=user.id,
                       school_id=user.school_id, object_type="integration", object_id=integration.id,
                       ip=client_ip(request))
        return {"id": integration.id, "name": integration.name, "api_key": key,
                "key_prefix": integration.key_prefix, "created_at": integrations.public(integration)["created_at"]}

    return await db.run(create)


@router.get("/integrations", summary="List the monitoring systems (keys are never shown again)")
async def list_integrations(user: DslUser, db: Database):
    def load(session):
        return [integrations.public(i) for i in integrations.list_integrations(session, user.school_id)]

    return await db.run(load)


@router.delete("/integrations/{integration_id}", summary="Revoke a monitoring system's API key")
async def revoke_integration(integration_id: int, user: DslUser, db: Database, request: Request):
    def revoke(session):
        integration = integrations.revoke_integration(session, school_id=user.school_id, revoked_by=user.id,
                                                      integration_id=integration_id)
        accounts.audit(session, action="revoke_integration", outcome="ok", user_id=user.id,
                       school_id=user.school_id, object_type="integration", object_id=integration.id,
                       ip=client_ip(request))
        return integrations.public(integration)

    return await db.run(revoke)


# --- inbound alerts (monitoring systems) -------------------------------------------------------

@dataclass(frozen=True)
class IntegrationCaller:
    id: int
    school_id: int
    actor_token: str


async def _integration(request: Request, db: Database, cfg: Settings,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                       ) -> IntegrationCaller:
    key = credentials.credentials if credentials else None

    def check(session):
        try:
            integration = integrations.authenticate_key(session, key)
        except integrations.KeyRefused as refused:
            accounts.audit(session, action="integration_key", outcome="refused:401", ip=client_ip(request))
            return str(refused)
        return IntegrationCaller(id=integration.id, school_id=integration.school_id,
                                 actor_token=sign(integrations.actor_for(integration), cfg.actor_key))

    caller = await db.run(check)
    if isinstance(caller, str):
        raise HTTPException(401, caller, headers={"WWW-Authenticate": 'Bearer realm="haven-tray"'})
    return caller


Integration = Annotated[IntegrationCaller, Depends(_integration)]


class AlertIn(BaseModel):
    external_id: str = Field("", max_length=1000, description="Your system's id for this alert: posting the "
                                                              "same id again returns the same tray item")
    pupil_identifier: str = Field("", max_length=1000, description="The pupil's UPN")
    severity: str = Field("", max_length=40, description="low, medium, high or critical")
    summary: str = Field("", max_length=100_000, description="What was detected (at most 5,000 characters)")
    occurred_at: str = Field("", max_length=100, description="ISO 8601 date and time; not in the future")


class AlertReceipt(BaseModel):
    id: int
    status: str
    matched: bool = Field(description="Whether the pupil identifier matched a pupil on the school's roll")


@router.post("/tray/alerts", status_code=201, response_model=AlertReceipt,
             summary="Post an alert from a monitoring system (API key; 200 when already received)",
             responses={200: {"description": "This external_id was received before: the same tray item",
                              "model": AlertReceipt},
                        401: {"description": "The API key is missing, not valid or revoked"}})
async def receive_alert(body: AlertIn, caller: Integration, rpc: Rpc, response: Response):
    result = await rpc.call("incidents", "receive_tray_alert", caller.actor_token, body.model_dump())
    if not result["created"]:
        response.status_code = 200
    return result["item"]


# --- the tray (DSL team) -----------------------------------------------------------------------

class AttachIn(BaseModel):
    pupil_id: int | None = Field(None, description="Defaults to the pupil the alert matched")
    category_ids: list[int] = Field(default_factory=list, max_length=50, description="One to three categories")
    alert_user_ids: list[int] = Field(default_factory=list, max_length=200)
    alert_groups: list[str] = Field(default_factory=list, max_length=10)
    urgent: bool | None = Field(None, description="Defaults to true for high and critical alerts")
    note: str | None = Field(None, max_length=100_000, description="The DSL's note, added to the account")


class DismissIn(BaseModel):
    reason: str = Field("", max_length=100_000, description="Why no record is needed (at least 5 characters)")


@router.get("/tray", summary="The incident tray: alerts from monitoring systems (audited)")
async def list_tray(user: DslUser, rpc: Rpc, db: Database, request: Request,
                    status: str = Query("pending", max_length=20,
                                        description="pending, attached, dismissed or all")):
    return await audited(db, user, request, "read_tray", "tray", status,
                         lambda: rpc.call("incidents", "list_tray", user.actor_token, status))


@router.post("/tray/{item_id}/attach", summary="Record a tray alert as an incident about a pupil")
async def attach(item_id: int, body: AttachIn, user: DslUser, rpc: Rpc, db: Database, request: Request):
    if await db.run(unknown_staff, user.school_id, body.alert_user_ids):
        raise ValidationFailed.one("alert_user_ids", "One of the staff chosen to alert is not an active member of staff.")
    data = body.model_dump()
    return await audited(db, user, request, "attach_tray_item", "tray_item", item_id,
                         lambda: rpc.call("incidents", "attach_tray_item", user.actor_token, item_id, data))


@router.post("/tray/{item_id}/dismiss", summary="Dismiss a tray alert with a reason")
async def dismiss(item_id: int, body: DismissIn, user: DslUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "dismiss_tray_item", "tray_item", item_id,
                         lambda: rpc.call("incidents", "dismiss_tray_item", user.actor_token, item_id,
                                          body.model_dump()))
