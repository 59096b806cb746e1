"""Event handlers: what the incidents service does when other services report a fact."""
from __future__ import annotations

from services.common.nameko_ext import event_handler

from .. import consumers


class EventEntrypoints:
    """Mixed into IncidentsService; uses its `db`. Queues are listed in deploy/topology.yaml."""

    @event_handler("documents", "document_stored")
    def on_document_stored(self, event):
        with self.db.transaction() as session:
            consumers.document_stored(session, event)
