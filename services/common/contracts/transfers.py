"""The transfers service's contract. Its real work (leavers, packages, delivery, receipts) is a
later issue; for now it answers health checks."""
from __future__ import annotations

from .base import NoArguments, ServiceContract

contract = ServiceContract("transfers")

health = contract.method("health", NoArguments, str, actor=False)
