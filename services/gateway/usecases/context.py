"""What every use case works with: the services' clients, the gateway's database and settings, and
where the request came from (for the audit log)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

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


@dataclass(frozen=True)
class Context:
    clients: Clients
    db: GatewayDatabase
    settings: GatewaySettings
    ip: str | None = None

    async def audit(self, user, label: AuditLabel, object_id, outcome: str) -> None:
        def write(session):
            accounts.audit(session, action=label.action, outcome=outcome, user_id=user.id,
                           school_id=user.school_id, object_type=label.object_type, object_id=object_id,
                           ip=self.ip)
        await self.db.run(write)

    async def audited(self, user, label: AuditLabel, object_id, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run a read (or a change) and write its audit entry whatever the outcome (DESIGN: every read,
        write and refusal is audited)."""
        try:
            result = await call()
        except HavenError as exc:
            await self.audit(user, label, object_id, f"refused:{exc.status_code}")
            raise
        await self.audit(user, label, object_id, "ok")
        return result
