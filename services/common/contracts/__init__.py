"""Every service's wire contract, one module each (see base.py for what a contract is).

`ALL` is what the topology is derived from: every exchange a service publishes on and every
event-handler queue, so a handler can never be added without its queue being declared at start-up.
"""
from __future__ import annotations

from . import alerts, documents, gateway, incidents, transfers
from .base import ServiceContract, Subscription, events_exchange_name

ALL: tuple[ServiceContract, ...] = (gateway.contract, incidents.contract, alerts.contract,
                                    documents.contract, transfers.contract)


def by_service(name: str) -> ServiceContract:
    for contract in ALL:
        if contract.service == name:
            return contract
    raise KeyError(name)


def subscriptions() -> list[Subscription]:
    return [s for contract in ALL for s in contract.subscriptions.values()]


def exchanges() -> list[str]:
    return ["nameko-rpc"] + [events_exchange_name(contract.service) for contract in ALL]
