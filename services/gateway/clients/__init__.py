"""Typed clients for the services, built from their contracts (services/common/contracts).

`clients.incidents.get_incident(user.actor_token, incident_id=5)` sends
`{"args": [context], "kwargs": {"incident_id": 5}}` to `incidents.get_incident` with the method's
own timeout, the context signed for that method and those arguments alone. A method name exists once, in its contract: asking for one the contract does not declare
is an AttributeError here, not a message no service will ever answer.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.common.actor import ActorPass
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

    async def __call__(self, *actor: ActorPass, command: BaseModel | None = None, **fields) -> Any:
        return await self.send(actor, self.command(command, **fields))

    async def send(self, actor: tuple[ActorPass, ...], kwargs: dict, timeout: float | None = None) -> Any:
        """The call with its keyword arguments already built; `timeout` overrides the method's own.
        The caller's context is signed here, for this method and these arguments only."""
        if self.spec.actor and (len(actor) != 1 or not isinstance(actor[0], ActorPass)):
            raise TypeError(f"{self.spec.routing_key} needs the caller (an ActorPass)")
        if not self.spec.actor and actor:
            raise TypeError(f"{self.spec.routing_key} takes no actor")
        timeout = self.spec.timeout if timeout is None else timeout
        args = [actor[0].for_call(self.spec.routing_key, kwargs, timeout, self.spec.delegates)] if actor else []
        return await self.rpc.send(self.spec.service, self.spec.name, args, kwargs, timeout)


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
