"""Integrations: the monitoring systems that post to the tray, and their API keys (an administrator)."""
from __future__ import annotations



from . import api_router
from ..deps import AdminUser, Ctx, audits
from ..schemas import IntegrationRequest, NewIntegration, PathId
from ..usecases import AuditLabel, tray

router = api_router("/api/v1/integrations", "integrations")
INTEGRATIONS = AuditLabel("manage_integrations", "integration")


@router.post("", status_code=201, response_model=NewIntegration,
             summary="Add a monitoring system and make its API key (shown once)")
@audits(INTEGRATIONS)
async def create_integration(body: IntegrationRequest, user: AdminUser, ctx: Ctx):
    return await tray.create_integration(ctx, user, body.name)


@router.get("", summary="List the monitoring systems (keys are never shown again)")
@audits(INTEGRATIONS)
async def list_integrations(user: AdminUser, ctx: Ctx):
    return await tray.list_integrations(ctx, user)


@router.delete("/{integration_id}", summary="Revoke a monitoring system's API key")
@audits(INTEGRATIONS, "integration_id")
async def revoke_integration(integration_id: PathId, user: AdminUser, ctx: Ctx):
    return await tray.revoke_integration(ctx, user, integration_id)
