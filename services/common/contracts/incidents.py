"""The incidents service's contract: its word lists, a model for every RPC command and query, and
the events it publishes. The service validates what it receives with these models; the gateway
builds its request models, its OpenAPI document and its typed client from them."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from . import documents
from .base import Contract, Event, Id, NoArguments, ServiceContract, View

contract = ServiceContract("incidents")

# --- word lists -------------------------------------------------------------------------------------
ACCESS_PURPOSES = ("read", "attach")


# --- commands and queries ---------------------------------------------------------------------------

class IncidentAccess(Contract):
    incident_id: Id
    purpose: Literal[ACCESS_PURPOSES]


class IncidentAccessView(View):
    incident_id: int
    pupil_id: int
    school_id: int


health = contract.method("health", NoArguments, str, actor=False)
check_incident_access = contract.method("check_incident_access", IncidentAccess, IncidentAccessView)


# --- events -----------------------------------------------------------------------------------------

class IncidentRecorded(Event):
    incident_id: Id
    pupil_id: Id
    recorded_by: Id
    category_ids: list[Id]
    category_names: list[Annotated[str, StringConstraints(max_length=200)]]
    urgent: bool
    alert_user_ids: list[Id]
    alert_groups: list[Annotated[str, StringConstraints(max_length=40)]]
    linked_pupil_ids: list[Id] = []


class IncidentAmended(Event):
    incident_id: Id
    pupil_id: Id
    amendment_id: Id
    field: Annotated[str, StringConstraints(max_length=40)]
    amended_by: Id


class ActionAssigned(Event):
    action_id: Id
    incident_id: Id
    assigned_to: Id
    assigned_by: Id
    due_on: Annotated[str, StringConstraints(max_length=10)] | None = None


class TrayItemReceived(Event):
    tray_item_id: Id
    severity: Literal["low", "medium", "high", "critical"]
    integration_id: Id
    matched: bool


class RollImported(Event):
    imported_by: Id
    mode: Literal["update", "full"]
    added_count: int
    changed_count: int
    left_pupil_ids: list[Id]


incident_recorded = contract.event("incident_recorded", IncidentRecorded)
incident_amended = contract.event("incident_amended", IncidentAmended)
action_assigned = contract.event("action_assigned", ActionAssigned)
tray_item_received = contract.event("tray_item_received", TrayItemReceived)
roll_imported = contract.event("roll_imported", RollImported)

on_document_stored = contract.handles(documents.document_stored, "on_document_stored")
