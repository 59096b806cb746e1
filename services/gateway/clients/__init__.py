"""Typed clients for the services, built from their contracts (services/common/contracts).

`clients.incidents.get_incident(user.actor_token, incident_id=5)` sends
`{"args": [actor_token], "kwargs": {"incident_id": 5}}` to `incidents.get_incident` with the method's
own timeout. A method name exists once, in its contract: asking for one the contract does not declare
is an AttributeError here, not a message no service will ever answer.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.common.contracts import alerts, documents, incidents, transfers
from services.common.contracts.base import Method, ServiceContract


class MethodClient:
    """One RPC method of one service, as an awaitable."""

    def __init__(self, rpc, spec: Method):
        self.rpc, self.spec = rpc, spec

    def command(self, command: BaseModel | None = None, **fields) -> dict:
        """The keyword arguments on the wire: the command model (given, or built and checked here from
        `fields`, so a bad value is a 422 per field before anything is sent), as JSON."""
        if command is None:
            command = self.spec.parse(fields)
        elif fields:
            raise TypeError(f"{self.spec.routing_key}: give a command or its fields, not both")
        elif not isinstance(command, self.spec.command):
            raise TypeError(f"{self.spec.routing_key} takes a {self.spec.command.__name__}, "
                            f"not a {type(command).__name__}")
        return command.model_dump(mode="json", exclude_unset=True)

    async def __call__(self, *actor_token: str, command: BaseModel | None = None, **fields) -> Any:
        return await self.send(actor_token, self.command(command, **fields))

    async def send(self, actor_token: tuple[str, ...], kwargs: dict, timeout: float | None = None) -> Any:
        """The call with its keyword arguments already built; `timeout` overrides the method's own."""
        if self.spec.actor and len(actor_token) != 1:
            raise TypeError(f"{self.spec.routing_key} needs the caller's actor token")
        if not self.spec.actor and actor_token:
            raise TypeError(f"{self.spec.routing_key} takes no actor")
        return await self.rpc.send(self.spec.service, self.spec.name, list(actor_token), kwargs,
                                   self.spec.timeout if timeout is None else timeout)


class ServiceClient:
    """A service's methods as attributes, exactly those its contract declares."""

    def __init__(self, rpc, contract: ServiceContract):
        self._rpc, self._contract = rpc, contract
        self._methods: dict[str, MethodClient] = {}

    def __getattr__(self, name: str) -> MethodClient:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._methods:
            spec = self._contract.methods.get(name)
            if spec is None:
                raise AttributeError(f"The {self._contract.service} contract has no method {name!r}")
            self._methods[name] = MethodClient(self._rpc, spec)
        return self._methods[name]

    @property
    def service(self) -> str:
        return self._contract.service


class Clients:
    """Every service the gateway calls."""

    def __init__(self, rpc):
        self.rpc = rpc
        self.incidents = ServiceClient(rpc, incidents.contract)
        self.alerts = ServiceClient(rpc, alerts.contract)
        self.documents = ServiceClient(rpc, documents.contract)
        self.transfers = ServiceClient(rpc, transfers.contract)

    def all(self) -> tuple[ServiceClient, ...]:
        return (self.incidents, self.alerts, self.documents, self.transfers)
