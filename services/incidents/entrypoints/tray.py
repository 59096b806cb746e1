"""RPC entrypoints for the tray area (see entrypoints/__init__.py)."""
from __future__ import annotations

import logging

from services.common.nameko_ext import rpc

from .. import tray

log = logging.getLogger(__name__)


class TrayEntrypoints:
    """Mixed into IncidentsService; uses its `db`, `actors` and `relay_events`."""

    def _relay_soon(self) -> None:
        try:
            self.relay_events()  # publish now rather than at the next sweep
        except Exception:
            # The change and its event are saved; the timer will publish it. Do not fail the call.
            log.exception("could not relay events straight away; the timer will retry")

    @rpc
    def receive_tray_alert(self, actor, alert):
        """From a monitoring system (an integration actor): {"item": {id, status, matched}, "created"}."""
        with self.db.transaction() as session:
            receipt, created = tray.receive_alert(session, self.actors.verify(actor), alert)
        if created:
            self._relay_soon()
        return {"item": receipt, "created": created}

    @rpc
    def list_tray(self, actor, status="pending"):
        with self.db.transaction() as session:
            return tray.list_tray(session, self.actors.verify(actor), status)

    @rpc
    def attach_tray_item(self, actor, item_id, data):
        with self.db.transaction() as session:
            result = tray.attach(session, self.actors.verify(actor), item_id, data)
        self._relay_soon()
        return result

    @rpc
    def dismiss_tray_item(self, actor, item_id, data):
        with self.db.transaction() as session:
            return tray.dismiss(session, self.actors.verify(actor), item_id, data)
