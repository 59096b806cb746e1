"""The DSL's dashboard: one answer from the incidents and alerts services, asked together.

A part whose service is down is `null`, named in `unavailable` with the reason, and the answer is
still 200 with the other parts: the DSL's day should not go blank because one service is restarting.
Only when no part could be loaded is the answer 503."""
from __future__ import annotations

from pydantic import Field

from services.common.contracts.alerts import FailedMailView, UnopenedIncidentView
from services.common.contracts.base import View
from services.common.contracts.incidents import DashboardView

from . import api_router
from ..deps import Ctx, DslUser, audits
from ..usecases import dashboard

router = api_router("/api/v1/dashboard", "dashboard")


class DashboardAnswer(View):
    dashboard: DashboardView | None = Field(description="Waiting and overdue work, the tray, counts by category "
                                                        "and the registers (the incidents service)")
    unopened: list[UnopenedIncidentView] | None = Field(description="New incidents nobody on the DSL team has "
                                                                    "opened yet, urgent first (the alerts service)")
    failed_mail: list[FailedMailView] | None = Field(description="Alert e-mails that could not be delivered")
    unactioned_after_days: int = Field(description="The school's setting `dashboard.unactioned` was asked with")
    settings_read: bool = Field(description="False when the school's setting could not be read and the "
                                            "default was used")
    unavailable: dict[str, str] = Field(description="Each part that could not be loaded (dashboard, unopened, "
                                                    "failed_mail), with why")


@router.get("", response_model=DashboardAnswer, summary="The DSL's dashboard (DSL team; audited)",
            responses={503: {"description": "No part of the dashboard could be loaded"}})
@audits(dashboard.READ_DASHBOARD)
async def get_dashboard(user: DslUser, ctx: Ctx):
    return await dashboard.dashboard(ctx, user)
