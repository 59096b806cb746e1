"""The documents service's Nameko dependencies: the vault, and asking incidents for permission."""
from __future__ import annotations

import eventlet
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy

from services.common.contracts import incidents as incidents_contract

from .domain import AccessCheck
from .exceptions import incidents_unavailable
from .vault import Vault


class DocumentVault(DependencyProvider):
    """`self.vault.put(...)` / `self.vault.get(...)`: one Vault (and one S3 client) per process."""

    def setup(self):
        self.vault: Vault = self.container.config["SETTINGS"].open_vault()
        # Creates the directory or the bucket and checks server-side encryption: a bad setup fails at start.
        self.vault.prepare()

    def get_dependency(self, worker_ctx):
        return self.vault


class IncidentAccess(RpcProxy):
    """`check_access(incident_id, purpose)`: the domain's permission check, answered by the incidents
    service with the caller's own signed actor context (the first argument of every call)."""

    spec = incidents_contract.check_incident_access

    def __init__(self):
        super().__init__(self.spec.service)

    def setup(self):
        self.timeout = float(self.container.config["SETTINGS"].rpc_timeout_seconds)

    def get_dependency(self, worker_ctx) -> AccessCheck:
        actor_token = worker_ctx.args[0] if worker_ctx.args else None
        return self.check_for(super().get_dependency(worker_ctx), actor_token)

    def check_for(self, proxy, actor_token) -> AccessCheck:
        method = getattr(proxy, self.spec.name)

        def check(incident_id: int, purpose: str) -> dict:
            command = self.spec.command(incident_id=incident_id, purpose=purpose)
            try:
                with eventlet.Timeout(self.timeout, incidents_unavailable()):
                    return method(actor_token, **command.model_dump())
            except UnknownService:
                raise incidents_unavailable() from None

        return check
