"""The DSL's dashboard page: what is new and not yet opened, failed alert e-mails, overdue actions,
incidents waiting with no action or outcome, the tray, this week's and this term's counts, and the
registers. A part whose service is not answering says so in its own section; the rest still shows."""
from __future__ import annotations

from fastapi import APIRouter, Request

from services.common.errors import HavenError, StepUpRequired

from ..deps import Ctx, DslUser
from ..usecases import dashboard
from .common import error_page, redirect, render

router = APIRouter(include_in_schema=False)

# The alerts service's ladder: the whole DSL team (deputies too), then senior leaders, then both, repeated.
ESCALATED_TO = {1: "the DSL team and deputies", 2: "senior leaders"}


def escalation(level: int | None) -> str | None:
    """How far an unopened urgent incident has been escalated, in words."""
    if not level:
        return None
    if level in ESCALATED_TO:
        return f"Escalated to {ESCALATED_TO[level]}"
    return f"Escalated to the DSL team and senior leaders ({level} escalations)"


@router.get("/dashboard")
async def dashboard_page(request: Request, user: DslUser, ctx: Ctx):
    try:
        day = await dashboard.dashboard(ctx, user)
    except StepUpRequired:
        return redirect("/step-up?next=%2Fdashboard")
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    unopened = [{**i, "escalation": escalation(i.get("escalation_level"))} for i in day["unopened"] or []]
    return render(request, "dashboard.html", user, day=day, found=day["dashboard"], unopened=unopened,
                  unopened_loaded=day["unopened"] is not None, failed_mail=day["failed_mail"],
                  unavailable=day["unavailable"], days=day["unactioned_after_days"])
