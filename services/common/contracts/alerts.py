"""The alerts service's contract: what staff ask of their alerts, and the events alerts handles."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from . import gateway, incidents
from .base import Contract, Count, Flag, Id, NoArguments, ServiceContract, View

contract = ServiceContract("alerts")


class ListAlerts(Contract):
    unread_only: Flag = False
    limit: Count = Field(100, le=500)


class AlertRef(Contract):
    alert_id: Id


class MailRef(Contract):
    mail_id: Id


class IncidentRef(Contract):
    incident_id: Id


# "HH:MM", 24-hour, in the school's time zone.
TimeOfDay = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class SchoolAlertSettingsIn(Contract):
    escalate_after_minutes: Count = Field(15, ge=1, le=1440, description="An urgent incident nobody on the DSL "
                                                                       "team has opened after this long is "
                                                                       "escalated, then again each time")
    digest_time: TimeOfDay = Field("07:30", description="When daily digests go out (HH:MM, school time)")
    category_in_email: Flag = Field(False, description="Name the category in alert e-mails (never the pupil)")
    unactioned_after_days: Count = Field(5, ge=1, le=365, description="The dashboard lists incidents with no "
                                                                    "action or outcome after this many days")


class SaveSchoolSettings(Contract):
    settings: SchoolAlertSettingsIn


class PreferencesIn(Contract):
    digest: Flag = Field(False, description="Non-urgent alerts by e-mail once a day; urgent ones always at once")


class SavePreferences(Contract):
    preferences: PreferencesIn


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
    kind: str = Field("alert", description="alert, escalation, action, reminder, amendment, tray")
    escalation_level: int = 0


class FailedMailView(View):
    """Never the subject or body: what did not go, not what it said."""

    id: int
    alert_id: int | None = None
    to_address: str
    attempts: int
    last_error: str | None = None
    status: str = "failed"
    queued_at: str | None = None
    recipient: StaffRef | None = None


class ReceiptView(View):
    """Who was alerted about an incident, how, and when they opened it (the read receipt)."""

    alert_id: int
    recipient: StaffRef
    kind: str = Field(description="alert, escalation, action, amendment")
    escalation_level: int = 0
    created_at: str
    read_at: str | None = None
    mail: str | None = Field(None, description="pending, sent, failed, digest, or none (no address)")


class EscalationView(View):
    level: int
    to: str = Field(description="Who it went to: dsl_team or slt")
    at: str
    recipients: int


class IncidentAlertsView(View):
    incident_id: int
    urgent: bool
    recorded_at: str | None = None
    opened_at: str | None = Field(None, description="When the DSL team first opened it")
    opened_by: StaffRef | None = None
    escalations: list[EscalationView]
    receipts: list[ReceiptView]


class UnopenedIncidentView(View):
    incident_id: int
    urgent: bool
    recorded_at: str
    categories: list[str]
    recorded_by: StaffRef
    escalation_level: int


class SchoolAlertSettingsView(SchoolAlertSettingsIn):
    pass


class PreferencesView(View):
    digest: bool
    digest_time: str


health = contract.method("health", NoArguments, str, actor=False)
list_alerts = contract.method("list_alerts", ListAlerts, list[AlertView])
mark_alert_read = contract.method("mark_alert_read", AlertRef, AlertView)
failed_mail = contract.method("failed_mail", NoArguments, list[FailedMailView])
retry_mail = contract.method("retry_mail", MailRef, FailedMailView)
incident_alerts = contract.method("incident_alerts", IncidentRef, IncidentAlertsView)
unopened_incidents = contract.method("unopened_incidents", NoArguments, list[UnopenedIncidentView])
get_school_settings = contract.method("get_school_settings", NoArguments, SchoolAlertSettingsView)
save_school_settings = contract.method("save_school_settings", SaveSchoolSettings, SchoolAlertSettingsView)
get_preferences = contract.method("get_preferences", NoArguments, PreferencesView)
save_preferences = contract.method("save_preferences", SavePreferences, PreferencesView)

on_staff_member_saved = contract.handles(gateway.staff_member_saved, "on_staff_member_saved")
on_incident_recorded = contract.handles(incidents.incident_recorded, "on_incident_recorded")
on_tray_item_received = contract.handles(incidents.tray_item_received, "on_tray_item_received")
on_action_assigned = contract.handles(incidents.action_assigned, "on_action_assigned")
on_action_completed = contract.handles(incidents.action_completed, "on_action_completed")
on_incident_amended = contract.handles(incidents.incident_amended, "on_incident_amended")
on_incident_opened = contract.handles(gateway.incident_opened, "on_incident_opened")
