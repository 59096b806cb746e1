"""The DSL's day: the dashboard (what is new and unopened, waiting, overdue, failed, and the registers)."""
from __future__ import annotations

import asyncio

from services.common.contracts.incidents import DashboardQuery
from services.common.errors import ServiceUnavailable

from .context import AuditLabel, Context

READ_DASHBOARD = AuditLabel("read_dashboard", "dashboard")

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
