"""The transfers service's Nameko adapter. Its real work (leavers, packages, delivery, receipts)
is a later issue; for now it owns its database and answers health checks."""
from __future__ import annotations

from sqlalchemy import text

from services.common.nameko_ext import Database, rpc


class TransfersService:
    name = "transfers"

    db = Database()

    @rpc
    def health(self):
        with self.db.transaction() as session:
            session.execute(text("SELECT 1"))
        return "ok"
