"""The transfers service's Nameko adapter. Its real work (leavers, packages, delivery, receipts)
is a later issue; for now it owns its database and answers health checks."""
from __future__ import annotations

from services.common.adapter import Service, UnitOfWork, health
from services.common.contracts import transfers


class TransfersService(Service):
    name = "transfers"

    unit_of_work = UnitOfWork()
    methods = {transfers.health: health}
