"""The transfers service's Nameko adapter. Its real work (leavers, packages, delivery, receipts)
is a later issue; for now it owns its database and answers health checks."""
from __future__ import annotations

from sqlalchemy import text

from services.common.adapter import Service, UnitOfWork
from services.common.contracts import transfers


def health(session) -> str:
    session.execute(text("SELECT 1"))
    return "ok"


class TransfersService(Service):
    name = "transfers"

    unit_of_work = UnitOfWork()
    methods = {transfers.health: health}
