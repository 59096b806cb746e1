"""The gateway's contract: the school and staff-directory events other services keep their copies from."""
from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from .base import Event, Id, ServiceContract

contract = ServiceContract("gateway")

ROLES = ("dsl", "slt", "staff")  # more come with the access issue


class StaffMemberSaved(Event):
    user_id: Id
    name: Annotated[str, StringConstraints(max_length=200)]
    email: Annotated[str, StringConstraints(max_length=320)]
    roles: list[Annotated[str, StringConstraints(max_length=40)]]
    active: bool


staff_member_saved = contract.event("staff_member_saved", StaffMemberSaved)


class SchoolSaved(Event):
    """A school was created or renamed in the gateway (its id is the envelope's school_id): the
    incidents service keeps its own row of the same id."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


school_saved = contract.event("school_saved", SchoolSaved)


class IncidentOpened(Event):
    """A member of staff opened an incident in Haven (a successful, audited read): the alerts service
    turns it into read receipts and stops the incident's escalation."""

    incident_id: Id
    user_id: Id


incident_opened = contract.event("incident_opened", IncidentOpened)
