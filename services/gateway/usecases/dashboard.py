"""The DSL's day: the dashboard (what is new and unopened, waiting, overdue, failed, and the registers),
who has been alerted about an incident and who has opened it (the read receipts), and the one-line
summary a DSL writes for an incident's chronology line."""
from __future__ import annotations

import asyncio

from services.common.contracts.incidents import DashboardQuery
from services.common.errors import HavenError, ServiceUnavailable

from .context import AuditLabel, Context

READ_DASHBOARD = AuditLabel("read_dashboard", "dashboard")
READ_INCIDENT_ALERTS = AuditLabel("read_incident_alerts", "incident")
SET_INCIDENT_SUMMARY = AuditLabel("set_incident_summary", "incident")

# The dashboard's parts, each from one service: a part whose service is down is left out (None) and
# named in `unavailable`, so the rest of the DSL's day still shows.
PARTS = ("dashboard", "unopened", "failed_mail")
DEFAULT_UNACTIONED_DAYS = DashboardQuery.model_fields["unactioned_after_days"].default


async def _part(call):
    """(answer, None), or (None, the error) when the service did not answer (5xx): a refusal or a step-up
    is an answer about the reader, not about the service, and is raised."""
    try:
        return await call, None
    except ServiceUnavailable as exc:
        return None, exc


async def dashboard(ctx: Context, user) -> dict:
    """The DSL team's dashboard (audited), its three parts asked for together:
    `dashboard` (incidents: waiting, overdue, tray, counts, registers), `unopened` (alerts: new incidents
    nobody on the DSL team has opened, urgent first: the alerts service's order) and `failed_mail` (alerts: e-mails that did not go);
    `unactioned_after_days` the school's setting the waiting list used (the contract's default, with
    `settings_read` false, when the alerts service did not answer); `unavailable` {part: message} for each
    part whose service did not answer. Raises only when no part could be loaded."""
    alerts, incidents = ctx.clients.alerts, ctx.clients.incidents

    async def from_incidents():
        """(the incidents part, its error, the days it used, whether the school's setting was read)."""
        settings, _ = await _part(alerts.get_school_settings(user.actor_token))
        days = (settings or {}).get("unactioned_after_days") or DEFAULT_UNACTIONED_DAYS
        found, problem = await _part(incidents.get_dashboard(user.actor_token, unactioned_after_days=days))
        return found, problem, days, settings is not None

    async def read():
        (found, found_problem, days, settings_read), (unopened, unopened_problem), (failed, failed_problem) = \
            await asyncio.gather(from_incidents(), _part(alerts.unopened_incidents(user.actor_token)),
                                 _part(alerts.failed_mail(user.actor_token)))
        problems = {"dashboard": found_problem, "unopened": unopened_problem, "failed_mail": failed_problem}
        if all(problems.values()):
            raise found_problem
        return {"dashboard": found, "unopened": unopened, "failed_mail": failed, "unactioned_after_days": days,
                "settings_read": settings_read,
                "unavailable": {part: exc.message for part, exc in problems.items() if exc is not None}}
    return await ctx.audited(user, READ_DASHBOARD, None, read)


async def incident_alerts(ctx: Context, user, incident_id: int) -> dict:
    """Who was alerted about an incident, its escalations, and who has opened it (audited). The alerts
    service decides who may see them (the DSL team and the incident's recorder)."""
    return await ctx.audited(user, READ_INCIDENT_ALERTS, incident_id,
                             lambda: ctx.clients.alerts.incident_alerts(user.actor_token, incident_id=incident_id))


async def incident_alerts_for_page(ctx: Context, user, incident: dict) -> tuple[dict | None, str | None]:
    """(the receipts, None) for the incident page; (None, None) when this reader is not shown them; (None, a
    calm message) when the alerts service is not answering. Asked only for the DSL team and the recorder,
    whom the alerts service may show them to: anyone else would only be refused (and audited as refused)."""
    recorder = (incident.get("recorded_by") or {}).get("id")
    if not (user.is_dsl or (recorder is not None and recorder == user.id)):
        return None, None
    try:
        return await incident_alerts(ctx, user, incident["id"]), None
    except ServiceUnavailable:
        return None, "Who has been alerted cannot be shown just now. The alerts themselves are not affected."
    except HavenError:
        return None, None  # refused or not known to the alerts service: the section is not shown


async def set_summary(ctx: Context, user, incident_id: int, summary: str) -> dict:
    """The DSL's one-line summary for the incident's chronology line; an empty one clears it (the line then
    shows the account's first 160 characters)."""
    return await ctx.audited(user, SET_INCIDENT_SUMMARY, incident_id,
                             lambda: ctx.clients.incidents.set_incident_summary(
                                 user.actor_token, incident_id=incident_id, summary=summary))
