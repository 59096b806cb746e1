"""The incident tray: monitoring systems (integrations, managed by the DSL team with their API keys)
post alerts; the DSL team attaches each to a pupil as an incident, or dismisses it with a reason."""
from __future__ import annotations

from services.common.contracts.base import validate
from services.common.contracts.incidents import AttachIn, DismissIn, TrayAlertIn

from .. import accounts, integrations
from .context import AuditLabel, Context
from .staff import check_alerted_staff

READ_TRAY = AuditLabel("read_tray", "tray")
ATTACH_TRAY_ITEM = AuditLabel("attach_tray_item", "tray_item")
DISMISS_TRAY_ITEM = AuditLabel("dismiss_tray_item", "tray_item")


# --- integrations ----------------------------------------------------------------------------------

async def create_integration(ctx: Context, user, name: str) -> dict:
    """A new monitoring system and its API key (shown this once)."""
    def create(session):
        integration, key = integrations.create_integration(session, school_id=user.school_id,
                                                           created_by=user.id, name=name)
        accounts.audit(session, action="create_integration", outcome="ok", user_id=user.id,
                       school_id=user.school_id, object_type="integration", object_id=integration.id, ip=ctx.ip)
        return {"id": integration.id, "name": integration.name, "api_key": key,
                "key_prefix": integration.key_prefix, "created_at": integrations.public(integration)["created_at"]}
    return await ctx.db.run(create)


async def list_integrations(ctx: Context, user) -> list[dict]:
    def load(session):
        return [integrations.public(i) for i in integrations.list_integrations(session, user.school_id)]
    return await ctx.db.run(load)


async def revoke_integration(ctx: Context, user, integration_id: int) -> dict:
    def revoke(session):
        integration = integrations.revoke_integration(session, school_id=user.school_id, revoked_by=user.id,
                                                      integration_id=integration_id)
        accounts.audit(session, action="revoke_integration", outcome="ok", user_id=user.id,
                       school_id=user.school_id, object_type="integration", object_id=integration.id, ip=ctx.ip)
        return integrations.public(integration)
    return await ctx.db.run(revoke)


# --- the tray ------------------------------------------------------------------------------------------

async def receive_alert(ctx: Context, caller, alert: TrayAlertIn) -> tuple[dict, bool]:
    """(the tray item, whether it is new): the same external id posted again is the same item."""
    result = await ctx.clients.incidents.receive_tray_alert(caller.actor_token, alert=alert)
    return result["item"], result["created"]


async def list_tray(ctx: Context, user, status: str | None = "pending") -> list[dict]:
    return await ctx.audited(user, READ_TRAY, status,
                             lambda: ctx.clients.incidents.list_tray(user.actor_token, status=status))


async def attach(ctx: Context, user, item_id: int, data: AttachIn | dict) -> dict:
    data = data if isinstance(data, AttachIn) else validate(AttachIn, data)
    await check_alerted_staff(ctx, user, data.alert_user_ids)
    return await ctx.audited(user, ATTACH_TRAY_ITEM, item_id,
                             lambda: ctx.clients.incidents.attach_tray_item(user.actor_token, item_id=item_id,
                                                                            data=data))


async def dismiss(ctx: Context, user, item_id: int, data: DismissIn | dict) -> dict:
    return await ctx.audited(user, DISMISS_TRAY_ITEM, item_id,
                             lambda: ctx.clients.incidents.dismiss_tray_item(user.actor_token, item_id=item_id,
                                                                             data=data))
