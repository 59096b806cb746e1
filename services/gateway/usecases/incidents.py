"""Recording an incident, reading one (audited), correcting it, and its body map."""
from __future__ import annotations

from services.common.contracts.base import validate
from services.common.contracts.incidents import AmendmentIn, IncidentIn, IncidentTexts
from services.common.errors import HavenError, ValidationFailed
from services.common.events import add_to_outbox, make_event

from ..models import OutboxEvent

from .context import AuditLabel, Context
from .staff import NOT_STAFF, dsl_team_member, unknown_staff

READ_INCIDENT = AuditLabel("read_incident", "incident")
READ_BODY_MAP = AuditLabel("read_body_map", "incident")
AMEND_INCIDENT = AuditLabel("amend_incident", "incident")
RESTRICT_INCIDENT = AuditLabel("restrict_incident", "incident")
SET_EXCLUDED_STAFF = AuditLabel("set_excluded_staff", "incident")
SET_INCIDENT_SUMMARY = AuditLabel("set_incident_summary", "incident")


async def record_incident(ctx: Context, user, incident: IncidentIn | dict) -> dict:
    """Record a concern. Staff ids are checked against the gateway's staff table; the name of the DSL
    told in person comes from it too, never from what was sent. Answers the saved record (with
    `replayed: true` when this client token was recorded before)."""
    if isinstance(incident, IncidentIn) and incident.dsl_informed_name is None:
        checked = incident  # already checked by the contract at the door
    else:
        data = incident.model_dump(exclude_unset=True) if isinstance(incident, IncidentIn) else dict(incident)
        data.pop("dsl_informed_name", None)
        checked = validate(IncidentIn, data)

    def check(session):
        errors, name = [], None
        if unknown_staff(session, user.school_id, checked.alert_user_ids):
            errors.append({"field": "alert_user_ids", "message": NOT_STAFF})
        if unknown_staff(session, user.school_id, checked.about_staff_ids):
            errors.append({"field": "about_staff_ids", "message": NOT_STAFF})
        if checked.dsl_informed_verbally and checked.dsl_informed_user_id is not None:
            name = dsl_team_member(session, user.school_id, checked.dsl_informed_user_id)
            if name is None:
                errors.append({"field": "dsl_informed_user_id",
                               "message": "That person is not on the DSL team. Choose the DSL or deputy you told."})
        return errors, name

    # Only a record that names staff needs the staff table (a second trip to the database otherwise).
    needs_staff = (checked.alert_user_ids or checked.about_staff_ids
                   or (checked.dsl_informed_verbally and checked.dsl_informed_user_id))
    errors, name = await ctx.db.run(check) if needs_staff else ([], None)
    if errors:
        raise ValidationFailed(errors)
    if name is not None:
        checked = checked.model_copy(update={"dsl_informed_name": name})  # a name from our staff table
    return await ctx.clients.incidents.record_incident(user.actor_token, incident=checked)


async def read_incident(ctx: Context, user, incident_id: int) -> dict:
    """Read one incident (audited); that it was opened goes to the alerts service through the outbox, in the
    audit entry's transaction: the read receipt, and the end of an urgent incident's escalation."""
    def opened(session):
        add_to_outbox(session, OutboxEvent, make_event("incident_opened", user.school_id, incident_id=incident_id,
                                                       user_id=user.id))
    return await ctx.audited(user, READ_INCIDENT, incident_id,
                             lambda: ctx.clients.incidents.get_incident(user.actor_token, incident_id=incident_id),
                             also=opened)


async def amend_incident(ctx: Context, user, incident_id: int, amendment: AmendmentIn | dict) -> dict:
    """Correct a saved record with a reason; answers `{amendment, incident}`."""
    amendment = amendment if isinstance(amendment, AmendmentIn) else validate(AmendmentIn, amendment)
    return await ctx.audited(user, AMEND_INCIDENT, incident_id,
                             lambda: ctx.clients.incidents.amend_incident(user.actor_token, incident_id=incident_id,
                                                                          amendment=amendment))


async def restrict_incident(ctx: Context, user, incident_id: int, restricted: bool, reason: str | None) -> dict:
    """Restrict a record to the DSL team (with a reason), or lift it; the incidents service decides who may."""
    return await ctx.audited(user, RESTRICT_INCIDENT, incident_id,
                             lambda: ctx.clients.incidents.restrict_incident(
                                 user.actor_token, incident_id=incident_id, restricted=restricted, reason=reason))


async def set_excluded_staff(ctx: Context, user, incident_id: int, user_ids: list[int]) -> dict:
    """The staff a record is about (hidden from them): each must be one of the school's staff."""
    if user_ids and await ctx.db.run(lambda session: unknown_staff(session, user.school_id, user_ids)):
        raise ValidationFailed([{"field": "user_ids", "message": NOT_STAFF}])
    return await ctx.audited(user, SET_EXCLUDED_STAFF, incident_id,
                             lambda: ctx.clients.incidents.set_excluded_staff(
                                 user.actor_token, incident_id=incident_id, user_ids=user_ids))


async def check_text(ctx: Context, user, texts: IncidentTexts) -> dict:
    return await ctx.clients.incidents.check_incident_text(user.actor_token, texts=texts)


async def body_map_svg(ctx: Context, user, incident_id: int, side: str | None = None) -> str:
    return await ctx.audited(user, READ_BODY_MAP, incident_id,
                             lambda: ctx.clients.incidents.body_map_svg(user.actor_token, incident_id=incident_id,
                                                                        side=side))


_outline: dict = {}


async def body_map_outline(ctx: Context, user) -> dict:
    """The outline never changes while the service runs; ask once."""
    if "outline" not in _outline:
        _outline["outline"] = await ctx.clients.incidents.body_map_outline(user.actor_token)
    return _outline["outline"]


async def body_map_outline_or_none(ctx: Context, user) -> dict | None:
    try:
        return await body_map_outline(ctx, user)
    except HavenError:
        return None


async def set_summary(ctx: Context, user, incident_id: int, summary: str) -> dict:
    """The DSL's one-line summary for the incident's chronology line; an empty one clears it (the line then
    shows the account's first 160 characters)."""
    return await ctx.audited(user, SET_INCIDENT_SUMMARY, incident_id,
                             lambda: ctx.clients.incidents.set_incident_summary(
                                 user.actor_token, incident_id=incident_id, summary=summary))
