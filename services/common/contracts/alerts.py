"""The alerts service's contract: what staff ask of their alerts, and the events alerts handles."""
from __future__ import annotations

from pydantic import Field

from . import gateway, incidents
from .base import Contract, Count, Flag, Id, NoArguments, ServiceContract, View

contract = ServiceContract("alerts")


class ListAlerts(Contract):
    unread_only: Flag = False
    limit: Count = Field(100, le=500)


class AlertRef(Contract):
    alert_id: Id


class StaffRef(View):
    id: int | None = None
    name: str | None = None


class AlertView(View):
    id: int
    incident_id: int | None = None
    tray_item_id: int | None = None
    created_at: str
    read_at: str | None = None
    raised_by: StaffRef
    categories: list[str]
    urgent: bool = False


class FailedMailView(View):
    """Never the subject or body: what did not go, not what it said."""

    id: int
    alert_id: int
    to_address: str
    attempts: int
    last_error: str | None = None


health = contract.method("health", NoArguments, str, actor=False)
list_alerts = contract.method("list_alerts", ListAlerts, list[AlertView])
mark_alert_read = contract.method("mark_alert_read", AlertRef, AlertView)
failed_mail = contract.method("failed_mail", NoArguments, list[FailedMailView])

on_staff_member_saved = contract.handles(gateway.staff_member_saved, "on_staff_member_saved")
on_incident_recorded = contract.handles(incidents.incident_recorded, "on_incident_recorded")
on_tray_item_received = contract.handles(incidents.tray_item_received, "on_tray_item_received")
on_action_assigned = contract.handles(incidents.action_assigned, "on_action_assigned")
