"""The gateway's contract: the staff-directory events other services keep their copies from."""
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
