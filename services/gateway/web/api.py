"""The calls the pages make to the services, in one place: the same RPC methods, audit entries and
gateway-side checks as the JSON API routes, so a page can never see or do more than the API allows."""
from __future__ import annotations

from services.common.errors import HavenError, ValidationFailed

from ..routes.incidents import audited, dsl_team_member
from ..routes.records import staff_name


class Pages:
    """The services as one signed-in member of staff may use them from a page."""

    def __init__(self, request, user, rpc, db):
        self.request, self.user, self.rpc, self.db = request, user, rpc, db

    async def call(self, method: str, *args, **kwargs):
        return await self.rpc.call("incidents", method, self.user.actor_token, *args, **kwargs)

    async def read(self, action: str, object_type: str, object_id, method: str, *args, **kwargs):
        """A read of records: written to the audit log whatever its outcome."""
        return await audited(self.db, self.user, self.request, action, object_type, object_id,
                             lambda: self.call(method, *args, **kwargs))

    # Changes made from a page go in the audit log too.
    write = read

    async def optional(self, method: str, *args, default=None, audit: tuple | None = None):
        """A part of a page that may be refused to this reader (e.g. decisions for a teacher).
        `audit` is (action, object_type, object_id) for reads of records."""
        try:
            if audit:
                return await self.read(*audit, method, *args), None
            return await self.call(method, *args), None
        except HavenError as exc:
            return default, exc

    # --- staff checks the gateway makes before a service is asked (as routes/records.py does) -----

    async def staff_name(self, user_id, field: str) -> str:
        name = await self.db.run(staff_name, self.user.school_id, user_id) if user_id is not None else None
        if name is None:
            raise ValidationFailed.one(field, "That person is not an active member of staff. Choose who to assign "
                                              "this to from the list.")
        return name

    async def dsl_name(self, user_id, field: str) -> str:
        name = await self.db.run(dsl_team_member, self.user.school_id, user_id)
        if name is None:
            raise ValidationFailed.one(field, "That person is not on the DSL team. Choose the DSL or a deputy to "
                                              "own the case.")
        return name
