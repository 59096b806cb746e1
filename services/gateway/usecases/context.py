"""What every use case works with: the services' clients, the gateway's database and settings, and
where the request came from (for the audit log)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from sqlalchemy.orm import Session

from services.common.errors import HavenError

from .. import accounts
from ..clients import Clients
from ..database import GatewayDatabase
from ..settings import GatewaySettings


@dataclass(frozen=True)
class AuditLabel:
    """What the audit log calls an act: `read_incident` on an `incident`."""

    action: str
    object_type: str


def outcome_of(status: int) -> str:
    """An HTTP status as the audit log's outcome: ok, invalid:422, refused:403, failed:503."""
    if status < 400:
        return "ok"
    if status in (400, 422):
        return f"invalid:{status}"
    if status >= 500:
        return f"failed:{status}"
    return f"refused:{status}"


def pupil_of(label: AuditLabel, object_id, result: Any) -> int | None:
    """The pupil whose records an act touched, so "who has looked at this pupil" is one indexed query:
    the object itself when it is a pupil, else the pupil the service's answer names (an incident)."""
    if label.object_type == "pupil" and object_id is not None:
        return _as_int(object_id)
    if isinstance(result, dict):
        found = result.get("pupil_id")
        if found is None and isinstance(result.get("incident"), dict):
            found = result["incident"].get("pupil_id")  # an amendment's answer: {amendment, incident}
        return _as_int(found)
    return None


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


@dataclass(frozen=True)
class Context:
    clients: Clients
    db: GatewayDatabase
    settings: GatewaySettings
    ip: str | None = None

    async def audit(self, user, label: AuditLabel, object_id, outcome: str, *, pupil_id: int | None = None,
                    detail: str | None = None, also: Callable[[Session], None] | None = None) -> None:
        def write(session):
            accounts.audit(session, action=label.action, outcome=outcome, user_id=user.id,
                           school_id=user.school_id, object_type=label.object_type, object_id=object_id,
                           ip=self.ip, pupil_id=pupil_id, detail=detail)
            if also is not None:
                also(session)
        await self.db.run(write)

    async def audited(self, user, label: AuditLabel, object_id, call: Callable[[], Awaitable[Any]], *,
                      pupil_id: int | None = None, also: Callable[[Session], None] | None = None) -> Any:
        """Run a read (or a change) and write its audit entry whatever the outcome (DESIGN: every read,
        write and refusal is audited), with the pupil it was about when that is known. `also` runs in
        the audit entry's transaction when the call succeeded (an outbox event saying it happened)."""
        try:
            result = await call()
        except HavenError as exc:
            await self.audit(user, label, object_id, outcome_of(exc.status_code),
                             pupil_id=pupil_id or pupil_of(label, object_id, None))
            raise
        await self.audit(user, label, object_id, "ok", pupil_id=pupil_id or pupil_of(label, object_id, result),
                         also=also)
        return result
